"""Shell completion: bash (and zsh through bashcompinit) completes commands, flags and labels,
after `//pkg:` and `:` too; fish gets a script of every command and flag."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

COMPLETE = r"""
source "$SCRIPT"
t() {
    COMP_LINE="$1"; COMP_POINT=${#COMP_LINE}; read -ra COMP_WORDS <<< "$2"; COMP_CWORD=$3
    [[ "$1" == *" " ]] && COMP_WORDS+=("")
    _wasmelt; echo "${COMPREPLY[*]}"
}
t "wasmelt bu" "wasmelt bu" 1
t "wasmelt build //fw:f" "wasmelt build //fw : f" 4
t "wasmelt build //fw:" "wasmelt build //fw :" 3
t "wasmelt build :fir" "wasmelt build : fir" 3
t "wasmelt build //... -//fw:fi" "wasmelt build //... -//fw : fi" 5
t "wasmelt test //f" "wasmelt test //f" 2
t "wasmelt build --kee" "wasmelt build --kee" 2
"""


def _env(ws) -> dict:
    return {**os.environ, "WASMELT_CACHE": str(ws.cache),
            "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")}


def _targets(ws):
    ws.write("fw/BUILD.toml", """
        [[genrule]]
        name = "firmware"
        outs = ["a.txt"]
        cmd = "echo > $(OUT)"

        [[genrule]]
        name = "flash"
        outs = ["b.txt"]
        cmd = "echo > $(OUT)"

        [[genrule]]
        name = "other"
        outs = ["c.txt"]
        cmd = "echo > $(OUT)"
    """)


def test_bash_completes_labels_after_the_colon(workspace, tmp_path):
    _targets(workspace)
    script = tmp_path / "c.sh"
    script.write_text(workspace.run("completion", "bash").out)
    run = subprocess.run(["bash", "-c", COMPLETE], cwd=workspace.root / "fw", capture_output=True, text=True,
                         env={**_env(workspace), "SCRIPT": str(script)})
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [
        "build",
        "firmware flash",  # bash puts them after the `:` it split the word at
        "firmware flash other",
        "firmware",
        "firmware",
        "//fw:firmware //fw:flash //fw:other",
        "--keep-going --keep_going",
    ]


def test_zsh_script_is_the_bash_one_through_bashcompinit(workspace):
    out = workspace.run("completion", "zsh").out
    assert out.startswith("autoload -U +X bashcompinit && bashcompinit\n")
    assert "complete -o default -F _wasmelt wasmelt" in out


def test_fish_script_has_every_command_flag_and_label_completion(workspace):
    from wasmelt.main import COMMANDS

    run = workspace.run("completion", "fish")
    assert run.code == 0
    lines = run.out.splitlines()
    for command in COMMANDS:
        assert any(l.startswith(f"complete -c wasmelt -n __fish_use_subcommand -a {command} -d ") for l in lines), command
    assert "complete -c wasmelt -n '__fish_seen_subcommand_from build' -a '(__wasmelt_labels)'" in lines
    assert any("'__fish_seen_subcommand_from test' -l test_filter -r" in l for l in lines)
    assert any("'__fish_seen_subcommand_from build' -l color -r -a 'auto yes no'" in l for l in lines)
    assert "wasmelt query (string split -m1 : -- $tok)[1]:all" in run.out
    if shutil.which("fish"):
        check = subprocess.run(["fish", "--no-execute"], input=run.out, capture_output=True, text=True)
        assert check.returncode == 0, check.stderr


@pytest.mark.parametrize("shell", ["tcsh"])
def test_an_unknown_shell_is_refused(workspace, shell):
    run = workspace.run("completion", shell)
    assert run.code == 2 and "invalid choice: 'tcsh'" in run.err
