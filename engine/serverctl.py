"""Starting, stopping and asking the workspace's server, from a client process
(`wasmelt server start|stop|status`, and a build that starts it on demand).

The protocol and the import-light forwarding client are in engine.client.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time

from . import client
from .workspace import Workspace, records_dir

PID_NAME = "server.pid"
LOG_NAME = "server.log"
DEFAULT_IDLE_SECS = 3 * 3600  # as Bazel's --max_idle_secs
START_TIMEOUT_S = 30.0


def _connect(ws: Workspace, timeout: float | None = None):
    return client.connect(str(records_dir(ws)), timeout)


def forward(argv: list[str], located) -> int | None:
    """Run `argv` in the workspace's server, starting it when the workspace
    asks for one; None when it must run in-process."""
    if not argv or argv[0] not in client.FORWARDED or located is None:
        return None
    ws, _ = located
    enabled = client.server_wanted(ws.settings)
    if enabled is False:
        return None
    sock = _connect(ws)
    if sock is None and enabled:
        sock = start(ws, quiet=True)
    if sock is None:
        return None
    return client.run_forwarded(sock, argv)


def start(ws: Workspace, quiet: bool = False, idle_secs: int = DEFAULT_IDLE_SECS) -> socket.socket | None:
    """Start the server (if none runs) and connect to it."""
    import subprocess

    sock = _connect(ws)
    if sock is not None:
        return sock
    directory = records_dir(ws)
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / LOG_NAME, "ab") as log:
        subprocess.Popen([sys.executable, "-m", "wasmelt", "server", "serve", "--max_idle_secs", str(idle_secs)],
                         cwd=ws.root, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                         env={**os.environ, "WASMELT_SERVER": "0"})
    if not quiet:
        print(f"wasmelt: starting the server for {ws.root} ...", file=sys.stderr)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        sock = _connect(ws)
        if sock is not None:
            return sock
        time.sleep(0.02)
    print(f"wasmelt: the server did not start; see {directory / LOG_NAME}", file=sys.stderr)
    return None


def status(ws: Workspace) -> dict | None:
    sock = _connect(ws, timeout=10)
    if sock is None:
        return None
    try:
        client.send_message(sock, {"control": "status"})
        frame = client.read_answer(sock)
    finally:
        sock.close()
    return json.loads(frame[1]) if frame is not None and frame[0] == b"x" else None


def stop(ws: Workspace) -> bool:
    sock = _connect(ws, timeout=10)
    if sock is None:
        return False
    try:
        client.send_message(sock, {"control": "stop"})
        client.read_answer(sock)
    finally:
        sock.close()
    pid_path = records_dir(ws) / PID_NAME
    deadline = time.monotonic() + 10
    while (records_dir(ws) / client.SOCKET_NAME).exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    pid_path.unlink(missing_ok=True)
    return True
