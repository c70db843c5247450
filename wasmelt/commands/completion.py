"""`wasmelt completion bash|zsh|fish`: a shell completion script for commands, flags and target
labels (after `//pkg:` the targets of that package, from `wasmelt query`)."""

from __future__ import annotations

import argparse

# bash splits words at `:` (COMP_WORDBREAKS): the word being completed is read from the line
# itself, and what precedes its last `:` is taken off each candidate, which bash then appends.
BASH = r"""
_wasmelt() {
    local line=${COMP_LINE:0:$COMP_POINT}
    local cur=${line##*[[:space:]]}
    if [ "$COMP_CWORD" -eq 1 ]; then
        COMPREPLY=($(compgen -W "%(commands)s" -- "$cur"))
    elif [[ "$cur" == -* && "$cur" != -//* && "$cur" != -:* ]]; then
        COMPREPLY=($(compgen -W "$(wasmelt "${COMP_WORDS[1]}" --help 2>/dev/null | grep -o -- '--[a-z_-]*' | sort -u)" -- "$cur"))
    else
        local negative= word=$cur labels
        if [[ "$word" == -* ]]; then negative=-; word=${word#-}; fi
        if [[ "$word" == *:* ]]; then
            labels=$(wasmelt query "${word%%:*}:all" 2>/dev/null)
        else
            labels=$(wasmelt query //... 2>/dev/null)
        fi
        [[ "$word" == :* ]] && labels=$(printf '%%s\n' $labels | sed 's/^[^:]*//')
        COMPREPLY=($(compgen -P "$negative" -W "$labels" -- "$word"))
        if [[ "$cur" == *:* && "$COMP_WORDBREAKS" == *:* ]]; then
            local prefix=${cur%%"${cur##*:}"}
            COMPREPLY=("${COMPREPLY[@]#"$prefix"}")
        fi
    fi
}
complete -o default -F _wasmelt wasmelt
"""

FISH_HEAD = r"""# wasmelt completion for fish: wasmelt completion fish > ~/.config/fish/completions/wasmelt.fish
function __wasmelt_labels
    set -l tok (commandline -ct)
    if string match -q -- '*:*' $tok
        wasmelt query (string split -m1 : -- $tok)[1]:all 2>/dev/null
    else
        wasmelt query //... 2>/dev/null
    end
end
complete -c wasmelt -f
"""

EPILOG = """examples:
  eval "$(wasmelt completion bash)"   commands, flags and target labels
  wasmelt completion zsh > ~/.zfunc/_wasmelt
  wasmelt completion fish > ~/.config/fish/completions/wasmelt.fish"""


def add_parser(sub) -> None:
    co = sub.add_parser("completion", help="print a shell completion script: eval \"$(wasmelt completion bash)\"",
                        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    co.add_argument("shell", choices=["bash", "zsh", "fish"])


def _fish_quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def fish_script() -> str:
    """Every command, its flags (with their help and choices) and labels where it takes targets."""
    from wasmelt.main import make_parser

    parser = make_parser()
    lines = [FISH_HEAD.rstrip()]
    subcommands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    helps = {a.dest: a.help or "" for a in subcommands._choices_actions}
    for name, command in parser.commands.items():
        lines.append(f"complete -c wasmelt -n __fish_use_subcommand -a {name} -d {_fish_quote(helps.get(name, name)[:80])}")
        seen = f"__fish_seen_subcommand_from {name}"
        for action in command._actions:
            if not action.option_strings:
                if action.dest in ("patterns", "expression"):
                    lines.append(f"complete -c wasmelt -n '{seen}' -a '(__wasmelt_labels)'")
                elif action.choices:
                    lines.append(f"complete -c wasmelt -n '{seen}' -a {_fish_quote(' '.join(action.choices))}")
                continue
            flags = " ".join(f"-l {o[2:]}" if o.startswith("--") else f"-s {o[1:]}" for o in action.option_strings
                             if o != "--help" and o != "-h")
            if not flags:
                continue
            extra = " -r" if action.nargs != 0 else ""
            if action.choices:
                extra += f" -a {_fish_quote(' '.join(map(str, action.choices)))}"
            help_text = (action.help or "")[:80]
            lines.append(f"complete -c wasmelt -n '{seen}' {flags}{extra} -d {_fish_quote(help_text)}")
    return "\n".join(lines) + "\n"


def run(args) -> int:
    from wasmelt.main import COMMANDS

    if args.shell == "fish":
        print(fish_script(), end="")
        return 0
    script = BASH % {"commands": " ".join(sorted(COMMANDS))}
    if args.shell == "zsh":
        script = "autoload -U +X bashcompinit && bashcompinit\n" + script
    print(script.strip())
    return 0
