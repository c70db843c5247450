"""The `wasmelt` console script, import-light (scripts/setup puts the native client,
engine/client_native.c, in front of it): a build or test goes to the
workspace's server when one runs (engine.client, on builtin modules only), or
starts it when the workspace asks for one (engine.serverctl); a build whose
trace says nothing changed is answered by a stat pass (engine.rebuild.null_build)
after the one parser (wasmelt.main) has read argv, or recalled what it made of the
same argv with the same code (wasmelt.argv_memo). Everything else is wasmelt.main."""

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

    # The native client (engine/client_native.c) reached a server that refused or did not
    # finish this command: it said so, and the command runs here without asking again.
    unfinished = os.environ.pop("WASMELT_SERVER_UNFINISHED", None) is not None
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

        code, reached = (None, True) if unfinished else forward_if_running(argv)  # the server parses argv too
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
    """Start the workspace's server for this command when it asks for one, or
    answer a build that the trace's stat pass finds nothing to do for; None:
    the full command runs. argv is parsed first (a bad flag exits 2 here),
    unless the parser accepted the same argv as a plain build before, with
    the same code (wasmelt.argv_memo)."""
    import os
    import time

    started = time.monotonic()
    from wasmelt import argv_memo
    from wasmelt.engine import client
    from wasmelt.engine.workspace_root import guess, package_of

    cwd = os.path.realpath(os.getcwd())
    root = guess(cwd)
    records = client.records_path(client.cache_dir_for(root), root) if root is not None else None
    known = argv_memo.recall(records, argv) if records is not None else None
    if known is None:
        from wasmelt.main import parse

        args = parse(argv)
    if root is None:
        return None
    if client.server_maybe_wanted(root):  # else none runs: the client found no socket
        from wasmelt.engine.serverctl import forward
        from wasmelt.engine.workspace import locate

        code = forward(argv, locate())
        if code is not None:
            return code
    from wasmelt import report

    if known is None:
        from wasmelt.commands.build import plain

        if not plain(args):
            return None
        patterns, quiet = args.patterns, args.quiet
    else:
        patterns, quiet, color = known
        report.set_color(color)
    from wasmelt.engine import rebuild

    answer = rebuild.null_build(records, rebuild.request_of(package_of(root, cwd), patterns), root=root)
    if answer is None:
        return None
    if known is None:
        argv_memo.remember(records, argv, patterns, quiet, args.color, rebuild.code_files())
    return report.up_to_date(*answer, quiet, started)


if __name__ == "__main__":
    sys.exit(main())
