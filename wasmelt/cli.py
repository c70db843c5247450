"""The `wasmelt` console script, import-light: a build or test goes to the
workspace's server when one runs (engine.client, on builtin modules only), or
starts it when the workspace asks for one (engine.server); an up-to-date build
is answered from its record (engine.uptodate). Everything else is wasmelt.main."""

import sys


def main(argv=None) -> int:
    try:
        return _main(sys.argv[1:] if argv is None else list(argv))
    except KeyboardInterrupt:  # before wasmelt.main, which says the same
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `wasmelt info | head`: the reader left; say nothing more
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


def _main(argv: list[str]) -> int:
    import os

    from wasmelt.rc import expand

    argv = expand(argv, os.getcwd())  # .wasmeltrc and --config, before any path looks at the flags

    if os.environ.get("WASMELT_INSIDE_ACTION"):  # engine.sandbox.INSIDE_ACTION_ENV; nothing more imported first
        from wasmelt.engine.errors import ConfigError
        from wasmelt.engine.sandbox import refuse_nested

        try:
            refuse_nested()
        except ConfigError as e:
            print(f"ERROR: {e}", file=sys.stderr)
            return e.exit_code
    if argv in (["--version"], ["-V"]):
        argv = ["version"]
    if argv and argv[0] in ("build", "test"):
        from wasmelt.engine.client import forward_if_running

        code, reached = forward_if_running(argv)
        if code is not None:
            return code
        if not reached:  # a server that refused or died is not asked again
            code = _forward_or_null_build(argv)
            if code is not None:
                return code
        # A build allocates millions of small, acyclic objects; the cyclic
        # collector's full passes over them cost seconds at 10k targets and
        # free nothing. One command is short-lived: leave it off.
        import gc

        gc.disable()
    from wasmelt.main import main as full

    return full(argv)


def _forward_or_null_build(argv: list[str]) -> int | None:
    import time

    started = time.monotonic()
    from wasmelt.engine.client import server_wanted
    from wasmelt.engine.uptodate import locate, try_null_build

    located = locate()
    if located is None:
        return None
    if server_wanted(located[0].settings):  # else none runs: the client found no socket
        from wasmelt.engine.serverctl import forward

        code = forward(argv, located)
        if code is not None:
            return code
    answer = try_null_build(argv, located)
    if answer is None:
        return None
    from wasmelt import report

    return report.up_to_date(*answer, started)


if __name__ == "__main__":
    sys.exit(main())
