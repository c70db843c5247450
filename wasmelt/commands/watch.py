"""`wasmelt watch`: build (or test) now, and again after every change to a
source or BUILD.toml (engine.watch delivers the changes)."""

from __future__ import annotations

from wasmelt import report

from .flags import build_flags, test_flags


def add_parser(sub) -> None:
    w = sub.add_parser("watch", help="build (or test) now and again after every change to a source or BUILD.toml",
                       epilog="example: wasmelt watch //examples/app:firmware --test")
    build_flags(w)
    test_flags(w)
    w.add_argument("--test", action="store_true", help="run the matching test targets after each build")
    w.add_argument("--debounce_ms", type=int, default=300, help="wait this long for more changes before rebuilding")


def run(args) -> int:
    import time

    from wasmelt.engine.errors import WasmeltError
    from wasmelt.engine.watch import watch
    from wasmelt.main import PLAN, command_module, prepare

    command = command_module("test" if args.test else "build")

    def rebuild() -> None:
        try:
            args.started = time.monotonic()
            prepare(args, PLAN)
            command.run(args)
        except WasmeltError as e:  # a broken BUILD.toml is reported, and watched for a fix
            report.error(str(e))
        report.note("wasmelt watch: waiting for changes (Ctrl-C to stop)")

    watch(args.ws.root, rebuild, debounce_ms=args.debounce_ms, on_change=report.note)
    return 0
