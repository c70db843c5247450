"""rc files: `~/.wasmeltrc` and `.wasmeltrc` at the workspace root add flags to a command
line, as Bazel's .bazelrc does (`build --jobs=4`, `build:ci --keep_going`, `--config=ci`).

Import-light (builtin modules only): wasmelt/cli.py expands argv with it before anything
else, so the server, the null-build path and wasmelt.main all see the same flags."""

import os
import sys

from wasmelt.engine.workspace_root import guess

RC_NAME = ".wasmeltrc"
# Set by the native client (engine/client_native.c) when the server it reached applied the rc files and
# announced them, then did not finish: the command runs again here, and says the rc lines only once.
ANNOUNCED_ENV = "WASMELT_RC_ANNOUNCED"
# A command takes the rc flags of the commands it inherits from, as `bazel test` takes `build`'s.
INHERITS = {"test": ("build",), "watch": ("build", "test"), "release": ("build",), "size": ("build",)}
# `common` lines apply to every command, so they may hold only the flags every command takes.
COMMON_FLAGS = ("--color", "--announce_rc")
COMMANDS = ("build", "test", "watch", "release", "verify", "size", "query", "aquery", "graph", "explain",
            "cache", "clean", "completion", "server", "init", "version", "info", "schema", "compdb")


class RcError(Exception):
    """A bad rc line or an undefined --config: one ERROR line, exit 2."""

    exit_code = 2


def rc_files(cwd: str) -> list[str]:
    """The rc files read, in the order they apply (a later flag wins): the workspace's, then the user's."""
    found = []
    root = guess(cwd)
    if root is not None:
        found.append(os.path.join(root, RC_NAME))
    home = os.environ.get("HOME")
    if home:
        found.append(os.path.join(home, RC_NAME))
    return [path for path in dict.fromkeys(found) if os.path.isfile(path)]


def read(paths: list[str]) -> list[tuple[str, int, str, str | None, list[str]]]:
    """Every rc line of `paths`: (file, line number, command, config or None, words)."""
    if not paths:
        return []
    import shlex  # imports re: only when there is an rc file (a forwarded build without one pays nothing)

    lines = []
    for path in paths:
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except (OSError, UnicodeDecodeError) as e:
            raise RcError(f"{path}: cannot read the rc file: {e}") from None
        for number, raw in enumerate(text.splitlines(), 1):
            where = f"{path}:{number}"
            try:
                words = shlex.split(raw, comments=True)
            except ValueError as e:
                raise RcError(f"{where}: {e} (rc lines are shell-quoted words)") from None
            if not words:
                continue
            command, _, config = words[0].partition(":")
            if command not in COMMANDS and command != "common":
                hint = _close(command, (*COMMANDS, "common"))
                raise RcError(f"{where}: `{words[0]}` is not a command{hint}; a line is "
                              "`COMMAND[:CONFIG] --flag...` (e.g. `build --jobs=4`, `build:ci --keep_going`)")
            if _ and not config:
                raise RcError(f"{where}: `{words[0]}` names no config after `:`")
            for word in words[1:]:
                if not word.startswith("-") and command == "common":
                    raise RcError(f"{where}: `{word}`: a `common` line holds flags only")
                flag = word.split("=", 1)[0]
                if command == "common" and word.startswith("-") and flag not in COMMON_FLAGS and flag != "--config":
                    raise RcError(f"{where}: `common` lines take only the flags every command has "
                                  f"({', '.join(COMMON_FLAGS)}); put `{word}` under the commands that take it "
                                  "(e.g. `build " + word + "`)")
            lines.append((path, number, command, config or None, words[1:]))
    return lines


def _close(word: str, choices) -> str:
    import difflib

    match = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean `{match[0]}`?)" if match else ""


def _applies(line_command: str, command: str) -> bool:
    return line_command in ("common", command, *INHERITS.get(command, ()))


def _order(command: str) -> tuple[str, ...]:
    """The commands whose lines apply, most general first (common, build, test...)."""
    return ("common", *INHERITS.get(command, ()), command)


def _expand_configs(words: list[str], command: str, lines, files: list[str], applied: list, seen: tuple) -> list[str]:
    """`words` with each --config=NAME replaced by the flags of its lines."""
    out, i = [], 0
    while i < len(words):
        word = words[i]
        if word == "--config" or word.startswith("--config="):
            if word == "--config":
                if i + 1 >= len(words):
                    raise RcError("--config needs a name: --config=NAME")
                name = words[i + 1]
                i += 2
            else:
                name = word.split("=", 1)[1]
                i += 1
            if not name:
                raise RcError("--config needs a name: --config=NAME")
            if name in seen:
                raise RcError(f"--config={name} includes itself: {' -> '.join((*seen, name))}")
            defined = [line for line in lines if line[3] == name]
            if not defined:
                where = ", ".join(files) if files else f"none (looked for {RC_NAME} at the workspace root and in $HOME)"
                known = sorted({line[3] for line in lines if line[3]})
                raise RcError(f"--config={name}: no rc line defines it{_close(name, known)}; rc files read: {where}"
                              + (f"; configs defined: {', '.join(known)}" if known else "")
                              + f" (define it with a line `{command}:{name} --flag...`)")
            for general in _order(command):
                for line in defined:
                    if line[2] == general:
                        applied.append(line)
                        out += _expand_configs(line[4], command, lines, files, applied, (*seen, name))
            continue
        out.append(word)
        i += 1
    return out


def expand_with_lines(argv: list[str], cwd: str) -> tuple[list[str], list]:
    """(argv with the rc flags and --config expansions in place, the rc lines that applied)."""
    if not argv or argv[0].startswith("-"):
        return list(argv), []
    command, rest = argv[0], list(argv[1:])
    if "--" in rest:  # after `--` nothing is a flag of ours
        cut = rest.index("--")
        rest, tail = rest[:cut], rest[cut:]
    else:
        tail = []
    files = rc_files(cwd)
    lines = read(files)
    applied: list = []
    flags: list[str] = []
    for general in _order(command):
        for line in lines:
            if line[3] is None and line[2] == general:
                applied.append(line)
                flags += _expand_configs(line[4], command, lines, files, applied, ())
    flags += _expand_configs(rest, command, lines, files, applied, ())
    return [command, *flags, *tail], applied


def announce(applied, out=None) -> None:
    import shlex

    out = out or sys.stderr
    if not applied:
        print("INFO: no rc lines apply", file=out)
    for path, number, command, config, words in applied:
        name = command + (f":{config}" if config else "")
        print(f"INFO: {path}:{number}: {name} {shlex.join(words)}".rstrip(), file=out)


def expand(argv: list[str], cwd: str) -> list[str]:
    """argv with the rc files' flags applied; a bad rc file is one ERROR line and exit 2.
    With --announce_rc, the rc lines that applied are printed to stderr (unless a server printed them)."""
    announced = os.environ.pop(ANNOUNCED_ENV, None) is not None
    try:
        expanded, applied = expand_with_lines(argv, cwd)
    except RcError as e:
        print(f"ERROR: {e}", file=sys.stderr, flush=True)
        raise SystemExit(e.exit_code) from None
    if "--announce_rc" in expanded[1:] and not announced:
        announce(applied)
    return expanded
