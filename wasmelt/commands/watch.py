"""`wasmelt watch`: build (or test) now, and again after every change to a
source or BUILD.toml (engine.watch delivers the changes)."""

from __future__ import annotations

import argparse

from wasmelt import report

from .flags import build_flags, test_flags

EPILOG = """examples:
  wasmelt watch //examples/app:firmware --test   rebuild the firmware and run its tests after each edit
  wasmelt watch //examples/... -k                 rebuild everything, past failures

With --test and no test target among the patterns, the test targets of the named
targets' packages that depend on them run. Editors' temporary and backup files
(sedXXXXXX, 4913, #x#, x~, .x.swp, .#x) are ignored. Ctrl-C stops it (exit 130)."""


def add_parser(sub) -> None:
    w = sub.add_parser("watch", help="build (or test) now and again after every change to a source or BUILD.toml",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    build_flags(w)
    test_flags(w)
    w.add_argument("--test", action="store_true", help="run the matching test targets after each build")
    w.add_argument("--debounce_ms", type=int, default=300, help="wait this long for more changes before rebuilding")


def tests_of_named(p) -> list:
    """The test targets in the packages of the named targets that depend on one of them."""
    from wasmelt.engine.graph import load_graph
    from wasmelt.engine.registry import rule_kinds

    named, kinds = set(p.labels), rule_kinds()
    found = []
    for package in sorted({label.package for label in named}):
        for target in p.loader.package(package).targets.values():
            kind = kinds.get(target.kind)
            if kind is not None and kind.is_test and target.label not in named:
                if named & set(load_graph(p.loader, [target.label]).targets):
                    found.append(target.label)
    return found


def run(args) -> int:
    import time

    from wasmelt.engine.analysis import TestInfo
    from wasmelt.engine.errors import WasmeltError
    from wasmelt.engine.session import plan
    from wasmelt.engine.watch import watch
    from wasmelt.main import PLAN, command_module, prepare

    command = command_module("test" if args.test else "build")
    patterns = list(args.patterns)

    def rebuild() -> None:
        try:
            args.started = time.monotonic()
            args.patterns = patterns
            prepare(args, PLAN)
            p = args.plan
            if args.test and not any(TestInfo in p.analysis.infos[l] for l in p.labels):
                tests = tests_of_named(p)
                if tests:
                    args.patterns = [*patterns, *map(str, tests)]
                    args.plan = plan(args.ws, args.patterns, args.package, args.memo)
            command.run(args)
        except WasmeltError as e:  # a broken BUILD.toml is reported, and watched for a fix
            report.error(str(e))
        report.note("wasmelt watch: waiting for changes (Ctrl-C to stop)")

    try:
        watch(args.ws.root, rebuild, debounce_ms=args.debounce_ms, on_change=report.note,
              ignored=(str(args.ws.cache_dir),))
    except KeyboardInterrupt:  # Ctrl-C is how a watch ends: no message, the shell's exit code for SIGINT
        return 130
    return 0
