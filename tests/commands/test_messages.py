"""What a failure says: a firmware_test tells a lowering bug from a wrong expectation,
`command:` lines paste and run, -v shows the tools' own commands, -k lists what built."""

from __future__ import annotations

import re
import subprocess
import sys

FW = """
[[component]]
name = "add"
srcs = ["add.wat"]

[[component]]
name = "other"
srcs = ["other.wat"]

[[synth]]
name = "fw"
src = ":add"
cpu = "cortex-m4"

[[firmware_test]]
name = "wrong_expect"
firmware = ":fw"
cases = [{ call = "add", args = [1, 2], expect = [4] }, { call = "add", args = [2, 2], expect = [4] }]

[[firmware_test]]
name = "other_reference"
firmware = ":fw"
reference = ":other"
cases = [{ call = "add", args = [1, 2] }]
"""


def _firmware(ws):
    ws.write("fw/add.wat", '(module (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))\n')
    ws.write("fw/other.wat", '(module (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.sub))\n')
    ws.write("fw/BUILD.toml", FW)


def test_a_wrong_expectation_is_not_called_a_disagreement(workspace):
    _firmware(workspace)
    run = workspace.run("test", "//fw:wrong_expect")
    assert run.code == 1
    assert ("1 of 2 cases: the firmware and its reference agree, and both differ from the case's expectation "
            "(add(1, 2)); check the `expect` or `trap` of the case, or the source") in run.out
    assert "disagree" not in run.out
    other = workspace.run("test", "//fw:other_reference")
    assert other.code == 1
    assert "1 of 1 cases: the firmware and its reference disagree (add(1, 2))" in other.out


def _command_of(text: str) -> str:
    m = re.search(r"^\s*command: (.*)$", text, re.M)
    assert m, text
    return m.group(1)


def test_command_lines_paste_and_run(workspace, tmp_path):
    workspace.write("g/BUILD.toml", """
        [[genrule]]
        name = "g"
        outs = ["g.txt"]
        cmd = "echo 'two words' > $(OUT); exit 7"
        env = { GREETING = "hello there" }
    """)
    run = workspace.run("build", "//g")
    assert run.code == 1
    line = _command_of(run.err)
    assert re.match(rf"cd {re.escape(str(workspace.root))} && mkdir -p wasmelt-out/g/g && "
                    r"env 'GREETING=hello there' \S*sh -c ", line), line
    pasted = subprocess.run(["bash", "-c", line], cwd=tmp_path, capture_output=True, text=True)
    assert pasted.returncode == 7
    assert (workspace.root / "wasmelt-out/g/g/g.txt").read_text() == "two words\n"

    workspace.write("w/bad.wat", "(module (func (export \"f\") (result i32) i32.const))\n")
    workspace.write("w/BUILD.toml", '[[component]]\nname = "bad"\nsrcs = ["bad.wat"]\n')
    bad = workspace.run("build", "//w:bad")
    assert bad.code == 1
    line = _command_of(bad.err)
    assert f" {sys.executable} -m wasmelt.toolchains." in line and " python " not in line, line
    pasted = subprocess.run(["bash", "-c", line], cwd=tmp_path, capture_output=True, text=True)
    assert pasted.returncode == 1 and "error:" in pasted.stderr, pasted.stderr


def test_verbose_shows_the_tools_own_commands(workspace):
    workspace.write("w/ok.wat", '(module (func (export "f") (result i32) i32.const 1))\n')
    workspace.write("w/BUILD.toml", '[[component]]\nname = "ok"\nsrcs = ["ok.wat"]\n')
    quiet = workspace.run("build", "//w:ok")
    assert quiet.code == 0 and "tool command:" not in quiet.err
    workspace.write("w/ok.wat", '(module (func (export "f") (result i32) i32.const 2))\n')  # runs again
    verbose = workspace.run("build", "//w:ok", "-v")
    assert re.search(r"tool command: \S*wasm-tools\S* parse w/ok.wat -o ", verbose.err), verbose.err


def test_keep_going_lists_the_targets_that_built(workspace):
    workspace.write("k/BUILD.toml", """
        [[genrule]]
        name = "bad"
        outs = ["bad.txt"]
        cmd = "exit 1"

        [[genrule]]
        name = "good"
        outs = ["good.txt"]
        cmd = "echo ok > $(OUT)"

        [[genrule]]
        name = "after_bad"
        srcs = [":bad"]
        outs = ["after.txt"]
        cmd = "cp $(SRCS) $(OUT)"
    """)
    run = workspace.run("build", "//k:all", "-k")
    assert run.code == 1
    assert "Target //k:good up-to-date:\n  wasmelt-out/k/good/good.txt" in run.err
    assert "1 of 3 targets built: //k:good; not built: //k:bad, //k:after_bad" in run.err
    assert run.err.rstrip().splitlines()[-1].startswith("Build FAILED:")
