"""`wasmelt server start|stop|status|serve`: the background process that keeps
the build graph warm (engine.server); `serve` runs it in the foreground."""

from __future__ import annotations


def add_parser(sub) -> None:
    from wasmelt.engine.serverctl import DEFAULT_IDLE_SECS

    s = sub.add_parser("server", help="start, stop or show the background server that keeps the build graph warm",
                       epilog="example: wasmelt server start")
    s.add_argument("action", choices=["start", "stop", "status", "serve"],
                   help="serve runs the server in the foreground (what start launches)")
    s.add_argument("--max_idle_secs", type=int, default=DEFAULT_IDLE_SECS,
                   help="the server exits after this long without a command")


class Frontend:
    """What the server needs from the command line: run a command, apply the
    rc files to a native client's argv, parse argv, tell a plain build (wasmelt.commands.build.plain), and print (engine modules never import a command)."""

    @staticmethod
    def run(argv: list[str], memo) -> int:
        from wasmelt.main import main

        return main(argv, memo)

    @staticmethod
    def expand(argv: list[str], cwd: str) -> list[str]:
        from wasmelt.rc import expand

        return expand(argv, cwd)

    @staticmethod
    def parse(argv: list[str]):
        from wasmelt.main import parse

        return parse(argv)

    @staticmethod
    def plain(args) -> bool:
        from wasmelt.commands.build import plain

        return plain(args)

    @property
    def report(self):
        from wasmelt import report

        return report


def run(args) -> int:
    from wasmelt.engine import serverctl
    from wasmelt.engine.errors import ConfigError
    from wasmelt.engine.workspace import locate

    located = locate()
    if located is None:
        raise ConfigError("no workspace here: run `wasmelt server` inside a workspace")
    ws = located[0]
    if args.action == "serve":
        from wasmelt import rules  # noqa: F401  (registers every rule kind)

        from wasmelt.engine.server import Server

        return Server(ws, args.max_idle_secs, Frontend()).serve()
    if args.action == "start":
        sock = serverctl.start(ws, idle_secs=args.max_idle_secs)
        if sock is None:
            return 1
        sock.close()
        info = serverctl.status(ws) or {}
        print(f"wasmelt server running (pid {info.get('pid')}) for {ws.root}")
        return 0
    if args.action == "stop":
        print("wasmelt server stopped" if serverctl.stop(ws) else "no wasmelt server is running")
        return 0
    info = serverctl.status(ws)
    if info is None:
        print(f"no wasmelt server is running for {ws.root}")
        return 3
    print(f"wasmelt server running (pid {info['pid']}, up {info['uptime_s']:.0f}s, {info['commands']} commands, "
          f"{info.get('incremental', 0)} answered from watched changes, "
          f"watching files: {'yes' if info['watching'] else 'no'}"
          f"{', running a command' if info.get('busy') else ''}) for {ws.root}")
    return 0
