"""The command line: argv is parsed once, and the command runs after the phase it
needs (none, the workspace, or the planned targets); every WasmeltError is one ERROR line.

A command is one entry of COMMANDS and one module `wasmelt/commands/<name>.py`
with `add_parser(subparsers)` and `run(args) -> int`; only the named command's
module is imported, so a build does not pay for the others' imports.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time

NONE, WORKSPACE, PLAN = "none", "workspace", "plan"

# name -> the phase it needs before run(args): args.ws/args.package (WORKSPACE), also args.plan (PLAN)
COMMANDS = {
    "build": PLAN,
    "test": PLAN,
    "watch": WORKSPACE,
    "release": PLAN,
    "verify": WORKSPACE,
    "size": PLAN,
    "query": WORKSPACE,
    "aquery": WORKSPACE,
    "compdb": PLAN,
    "graph": WORKSPACE,
    "explain": WORKSPACE,
    "cache": WORKSPACE,
    "clean": WORKSPACE,
    "completion": NONE,
    "server": NONE,
    "init": NONE,
    "version": NONE,
    "info": NONE,  # finds the workspace itself: outside one it still lists the tools
    "schema": NONE,
}

EPILOG = """examples:
  wasmelt build //...                           build every target of the workspace except those tagged "manual"
  wasmelt build //examples/app:firmware -j 4 --keep_going
  wasmelt build //examples/... -//examples/app:firmware_m0   a negative pattern leaves targets out
  wasmelt test //examples/...                   build and run the tests
  wasmelt query 'deps(//examples/app:firmware)'
  wasmelt aquery //examples/app:firmware        its actions: argv, inputs, outputs, keys
  wasmelt explain //examples/app:fused          why the last build ran (or reused) it

rc files: .wasmeltrc at the workspace root, then ~/.wasmeltrc, hold lines such as
  build --jobs=4            flags every build (and test, watch, release, size) gets
  build:ci --keep_going     flags --config=ci adds
  common --color=no         flags of every command (--color, --announce_rc)
--announce_rc prints the lines that applied.

exit codes:
  0    success (watch: never returns 0; Ctrl-C ends it with 130)
  1    a build, a test or a check (verify, cache verify) failed, or a file could not be written
  2    bad input: a flag, a label, a BUILD.toml, an rc file, a query; nothing was built
  3    `server status`: no server runs for this workspace
  130  interrupted (Ctrl-C)
  141  the reader of the output went away (`wasmelt info | head`)
"""


def command_module(name: str):
    return importlib.import_module(f"wasmelt.commands.{name}")


_parsers: dict[str | None, argparse.ArgumentParser] = {}  # a long-lived process (the server) parses many argvs


def _width() -> int:
    """What argparse's formatter takes from shutil.get_terminal_size (COLUMNS, else
    the terminal, else 80), without importing shutil (and its compressors) on
    every command's start: argparse builds a formatter for each add_argument."""
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns
        except (AttributeError, ValueError, OSError):
            columns = 0
    return (columns or 80) - 2


class _Parser(argparse.ArgumentParser):
    def _get_formatter(self):
        return self.formatter_class(prog=self.prog, width=_width())


def make_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or of `only` (what a known command's argv needs)."""
    if only in _parsers:
        return _parsers[only]
    parser = _Parser(prog="wasmelt", description="Build MCU firmware from WebAssembly components, incrementally.",
                                     epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in ([only] if only else COMMANDS):
        command_module(name).add_parser(sub)
        common_flags(sub.choices[name])
    parser.commands = sub.choices  # name -> its parser (for errors about its arguments)
    _parsers[only] = parser
    return parser


def common_flags(p: argparse.ArgumentParser) -> None:
    """The flags every command takes (wasmelt.rc.COMMON_FLAGS: what a `common` rc line may hold)."""
    p.add_argument("--color", choices=["auto", "yes", "no"], default="auto",
                   help="colour the output: on a terminal unless NO_COLOR is set (auto, the default), always, never")
    p.add_argument("--announce_rc", action="store_true", help="print the rc-file lines that apply to this command")


def is_negative_pattern(arg: str) -> bool:
    """`-//pkg/...`, `-//pkg:name`, `-:name`: a pattern that removes targets, not a flag."""
    return arg.startswith(("-//", "-:"))


_parsed: dict[tuple[str, ...], argparse.Namespace] = {}  # ... and parses the same argvs again
MAX_PARSED = 64


def parse(argv: list[str]) -> argparse.Namespace:
    """The namespace of `argv`; negative patterns (`//... -//examples/grow/...`) take their place among
    the patterns (a query's words are joined into one expression). A fresh copy each time: the
    parser is pure, so an argv parsed before in this process is not parsed again."""
    key = tuple(argv)
    kept = _parsed.get(key)
    if kept is None:
        kept = _parse(argv)
        if len(_parsed) < MAX_PARSED:
            _parsed[key] = kept
    return _common(argparse.Namespace(**{k: list(v) if isinstance(v, list) else v for k, v in vars(kept).items()}))


def _parse(argv: list[str]) -> argparse.Namespace:
    known = argv[0] if argv and argv[0] in COMMANDS else None
    parser = make_parser(known)
    if not any(is_negative_pattern(a) for a in argv):
        return parser.parse_args(argv)
    args, extra = parser.parse_known_args(argv)
    words = getattr(args, "patterns", None)
    if words is None and hasattr(args, "expression"):
        words = args.expression
    unknown = [a for a in extra if a.startswith("-") and not is_negative_pattern(a)]
    if args.command is None:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if words is None or unknown:
        parser.commands[args.command].error(f"unrecognized arguments: {' '.join(unknown or extra)}")
    left = {}
    for word in [*words, *extra]:
        left[word] = left.get(word, 0) + 1
    ordered = []
    for arg in argv[1:]:  # positive and negative patterns in their order: each removes from those before it
        if left.get(arg):
            left[arg] -= 1
            ordered.append(arg)
    if hasattr(args, "patterns"):
        args.patterns = ordered
    else:
        args.expression = ordered
    return args


def _common(args: argparse.Namespace) -> argparse.Namespace:
    """What the flags every command takes set for the process: whichever path then runs
    the command (the null build, the server, main) prints in the colours asked for."""
    from wasmelt import report

    report.set_color(getattr(args, "color", "auto"))
    return args


def prepare(args, phase: str) -> None:
    """Do what the phase asks before the command runs."""
    if phase == NONE:
        return
    from wasmelt import rules  # noqa: F401  (registers every rule kind)
    from wasmelt.engine.session import open_workspace, plan
    from wasmelt.engine.settings import check_settings

    args.ws, args.package = open_workspace()
    check_settings(args.ws.settings, str(args.ws.root / "BUILD.toml"))
    if phase == PLAN:
        args.plan = plan(args.ws, args.patterns, args.package, args.memo)


def dispatch(args) -> int:
    args.started = time.monotonic()
    prepare(args, COMMANDS[args.command])
    return command_module(args.command).run(args)


def main(argv: list[str] | None = None, memo=None) -> int:
    """Run one command; `memo` is what a long-lived process keeps between commands (engine.memo)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse(argv)
    args.memo = memo
    if not args.command:
        make_parser().print_help()
        return 2
    from wasmelt import report
    from wasmelt.engine.errors import WasmeltError

    try:
        from wasmelt.engine.sandbox import configure

        configure(getattr(args, "sandbox", None), getattr(args, "sandbox_debug", False))
        return dispatch(args)
    except WasmeltError as e:
        report.error(str(e))
        return e.exit_code
    except OSError as e:  # the disk full, the cache read-only, a file where a directory belongs
        from wasmelt.engine.store import explain_os_error

        report.error(explain_os_error(e))
        return 1
    except RecursionError:
        report.error(f"`wasmelt {args.command}`: its input (a BUILD.toml table or key, a query expression) "
                     "is nested too deeply; flatten it")
        return 2
    except KeyboardInterrupt:
        report.note("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
