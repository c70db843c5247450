"""The server protocol, both ways, and the client of engine.server, on builtin
modules only: a command forwarded to a running server costs the interpreter's start
plus this file, so nothing here may import more than the interpreter already
has loaded (no socket.py, which pulls in enum; no json or re; no pathlib).

Protocol: the client sends PROTOCOL, a 4-byte big-endian length and a dict marshalled
in MARSHAL_VERSION (argv, cwd, env, whether stderr is a terminal, whether argv has
the rc files applied; or {"control": ...}); the native client (engine/client_native.c,
scripts/setup installs it as the `wasmelt` command) sends the same bytes. The
server answers with frames of one type byte and a 4-byte length: b"o"
stdout, b"e" stderr (an empty one to the native client: the rc files were applied,
and announced, there), b"x" the exit code (ASCII digits; JSON for status),
b"r" refused (the client runs the command itself: the server is stale,
or speaks another protocol).
"""

import marshal
import os
import sys

import xxhash

from .workspace_root import BUILD_FILE, guess

SOCKET_NAME = "server.sock"
FORWARDED = ("build", "test")
SIGPIPE_EXIT = 141  # as a shell reports a process killed by SIGPIPE
PROTOCOL = b"wsm\x02"  # a server that reads another one refuses the command
# No shared references or interned strings (version 3 on): the bytes depend on the dict
# alone, so a client in another language writes them exactly.
MARSHAL_VERSION = 2


def records_path(cache_dir: str, root: str) -> str:
    """Where a workspace's build records (and its server's socket) live."""
    return os.path.join(cache_dir, "records", xxhash.xxh3_128_hexdigest(root.encode())[:16])


def cache_dir_for(root: str) -> str:
    cache = os.environ.get("WASMELT_CACHE")
    return os.path.realpath(cache) if cache else os.path.join(root, ".wasmelt")


def connect(records: str, timeout: float | None = None):
    """A connection to the server whose records are in `records`, or None
    (a killed server's socket file is removed)."""
    path = os.path.join(records, SOCKET_NAME)
    try:
        inode = os.stat(path).st_ino
    except OSError:
        return None
    import _socket  # the C module (socket.py's enums cost ~2 ms at start), once a server may listen

    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(short_socket_path(path))
    except ConnectionRefusedError:
        sock.close()
        try:
            if os.stat(path).st_ino == inode:  # not a new server's, put in place since
                os.unlink(path)  # a killed server's: nobody listens on it
        except OSError:
            pass
        return None
    except OSError:
        sock.close()
        return None
    sock.settimeout(None)
    return sock


_held_fds: list[int] = []


def short_socket_path(path: str) -> str:
    """Unix socket paths are limited to ~107 bytes: reach a long one through
    /proc/self/fd when needed."""
    if len(path.encode()) < 100:
        return path
    fd = os.open(os.path.dirname(path), os.O_PATH)
    _held_fds.append(fd)  # stays open while the socket is used
    return f"/proc/self/fd/{fd}/{os.path.basename(path)}"


def send_message(sock, message: dict) -> None:
    data = marshal.dumps(message, MARSHAL_VERSION)
    sock.sendall(PROTOCOL + len(data).to_bytes(4, "big") + data)


def read_message(sock) -> dict | None:
    """The request send_message sent; None when it is not one of this protocol."""
    head = read_exact(sock, 8)
    if head is None or head[:4] != PROTOCOL:
        return None
    data = read_exact(sock, int.from_bytes(head[4:], "big"))
    try:
        message = marshal.loads(data) if data else None
    except (ValueError, EOFError, TypeError):
        return None
    return message if isinstance(message, dict) else None


def frame(kind: bytes, body: bytes) -> bytes:
    """One frame of the server's answer (read_frame reads it)."""
    return kind + len(body).to_bytes(4, "big") + body


def read_exact(sock, n: int) -> bytes | None:
    chunks = []
    while n:
        data = sock.recv(n)
        if not data:
            return None
        chunks.append(data)
        n -= len(data)
    return b"".join(chunks)


def read_frame(sock) -> tuple[bytes, bytes] | None:
    head = read_exact(sock, 5)
    if head is None:
        return None
    size = int.from_bytes(head[1:], "big")
    body = read_exact(sock, size) if size else b""
    return None if body is None else (head[:1], body)


def read_answer(sock) -> tuple[bytes, bytes] | None:
    """The final frame (b"x" or b"r") of a control request, past any notice."""
    while True:
        frame = read_frame(sock)
        if frame is None or frame[0] in (b"x", b"r"):
            return frame


def relay(sock, message: dict) -> int | None:
    """Send one command and relay its output; the exit code, or None when the
    server refused it or went away before finishing."""
    send_message(sock, message)
    streams = {b"o": sys.stdout.buffer, b"e": sys.stderr.buffer}
    while True:
        frame = read_frame(sock)
        if frame is None:
            return None
        kind, body = frame
        if kind in streams:
            try:
                streams[kind].write(body)
                streams[kind].flush()
            except BrokenPipeError:  # `wasmelt build 2>&1 | head`: our reader left, not the server
                os.dup2(os.open(os.devnull, os.O_WRONLY), streams[kind].fileno())  # nothing more to flush at exit
                return SIGPIPE_EXIT  # and the hang-up stops the command in the server
        elif kind == b"x":
            return int(body)
        else:
            return None


def command_message(argv: list[str]) -> dict:
    env, tty = dict(os.environ), sys.stderr.isatty()
    if tty and "COLUMNS" not in env:
        try:  # the server draws progress for this terminal, not for its log file
            env["COLUMNS"], env["LINES"] = map(str, os.get_terminal_size(sys.stderr.fileno()))
        except OSError:
            pass
    # wasmelt.cli applied the rc files already; the native client leaves that to the server.
    return {"argv": argv, "cwd": os.getcwd(), "env": env, "tty": tty, "expanded": True}


def server_disabled() -> bool:
    env = os.environ.get("WASMELT_SERVER")
    return env is not None and env.strip().lower() in ("0", "false", "no", "")


def server_wanted(settings: dict) -> bool | None:
    """True (start one on demand), False (never use one) or None (use one if
    running): WASMELT_SERVER, else `server = true` in the [workspace] table."""
    if os.environ.get("WASMELT_SERVER") is not None:
        return not server_disabled()
    return True if settings.get("server") is True else None


def server_maybe_wanted(root: str) -> bool:
    """Whether the workspace may ask for a server to be started (server_wanted
    on its parsed settings decides): WASMELT_SERVER, or the word `server` in
    the root BUILD.toml, which is not parsed here."""
    if os.environ.get("WASMELT_SERVER") is not None:
        return not server_disabled()
    try:
        with open(os.path.join(root, BUILD_FILE), "rb") as f:
            return b"server" in f.read()
    except OSError:
        return False


def forward_if_running(argv: list[str]) -> tuple[int | None, bool]:
    """Run a build or test in the workspace's server if one is running:
    (exit code or None, whether a server was reached). None with a server
    reached means it refused or died: the command runs in this process."""
    if not argv or argv[0] not in FORWARDED or server_disabled():
        return None, False
    cwd = os.getcwd()
    root = guess(cwd)
    if root is None:
        return None, False
    sock = connect(records_path(cache_dir_for(root), root))
    if sock is None:
        return None, False
    return run_forwarded(sock, argv), True


def run_forwarded(sock, argv: list[str]) -> int | None:
    try:
        code = relay(sock, command_message(argv))
    except OSError:
        code = None
    finally:
        sock.close()  # on Ctrl-C too: the hang-up is how the server learns of it
    if code is None:
        print("wasmelt: the server did not finish the command; running it in this process", file=sys.stderr)
    return code
