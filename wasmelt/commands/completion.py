"""`wasmelt completion bash|zsh`: a shell completion script for commands, flags and target labels."""

from __future__ import annotations

import argparse

BASH = r"""
_wasmelt() {
    local cur=${COMP_WORDS[COMP_CWORD]}
    if [ "$COMP_CWORD" -eq 1 ]; then
        COMPREPLY=($(compgen -W "%(commands)s" -- "$cur"))
    elif [[ "$cur" == -* ]]; then
        COMPREPLY=($(compgen -W "$(wasmelt "${COMP_WORDS[1]}" --help 2>/dev/null | grep -o -- '--[a-z_-]*' | sort -u)" -- "$cur"))
    else
        COMPREPLY=($(compgen -W "$(wasmelt query //... 2>/dev/null)" -- "$cur"))
    fi
}
complete -o default -F _wasmelt wasmelt
"""


def add_parser(sub) -> None:
    co = sub.add_parser("completion", help="print a shell completion script: eval \"$(wasmelt completion bash)\"",
                        epilog="examples:\n  eval \"$(wasmelt completion bash)\"   commands, flags and target labels\n"
                               "  wasmelt completion zsh > ~/.zfunc/_wasmelt",
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    co.add_argument("shell", choices=["bash", "zsh"])


def run(args) -> int:
    from wasmelt.main import COMMANDS

    script = BASH % {"commands": " ".join(sorted(COMMANDS))}
    if args.shell == "zsh":
        script = "autoload -U +X bashcompinit && bashcompinit\n" + script
    print(script.strip())
    return 0
