"""One command's connection to the server: its stdout and stderr sent as
frames of the protocol (engine.client), and a watch for the client hanging up."""

from __future__ import annotations

import io
import os
import socket
import threading

from . import client


def command_streams(conn: socket.socket, tty: bool) -> tuple[io.TextIOWrapper, io.TextIOWrapper]:
    """Text streams for a command's stdout and stderr (which says whether it is a terminal)."""
    return tuple(io.TextIOWrapper(io.BufferedWriter(_RawFrames(_FrameWriter(conn, kind, is_tty))), encoding="utf-8",
                                  errors="replace", line_buffering=True, write_through=True)
                 for kind, is_tty in ((b"o", False), (b"e", tty)))


class _FrameWriter:
    """A binary stream that sends what is written as frames of one kind."""

    def __init__(self, sock: socket.socket, kind: bytes, tty: bool):
        self.sock, self.kind, self.tty = sock, kind, tty
        self.closed = False

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        data = bytes(data)
        if data:
            try:
                self.sock.sendall(client.frame(self.kind, data))
            except OSError:
                pass  # the client went away: finish the command anyway
        return len(data)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return self.tty

    def fileno(self) -> int:
        raise OSError("not a file")


class _RawFrames(io.RawIOBase):
    def __init__(self, writer: _FrameWriter):
        self.writer = writer

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        return self.writer.write(data)

    def isatty(self) -> bool:
        return self.writer.tty


class HangupMonitor:
    """Watches a command's connection on a thread. A client that hangs up
    before its answer was interrupted (Ctrl-C): the command is stopped as
    Ctrl-C stops an in-process build, by SIGINT to this server's process
    group (its running actions included; the server's own handler turns it
    into KeyboardInterrupt while the command runs)."""

    def __init__(self, on_hangup, conn: socket.socket):
        self.on_hangup, self.conn = on_hangup, conn
        self.wake_r, self.wake_w = os.pipe()
        self.thread = threading.Thread(target=self._watch, name="hangup-monitor", daemon=True)
        self.thread.start()

    def _watch(self) -> None:
        import select

        poller = select.poll()
        poller.register(self.wake_r, select.POLLIN)
        poller.register(self.conn.fileno(), select.POLLIN | getattr(select, "POLLRDHUP", 0))  # 0: not Linux
        while True:
            ready = dict(poller.poll())
            if self.wake_r in ready:
                return  # the command finished
            try:
                data = self.conn.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if data:
                poller.unregister(self.conn.fileno())  # bytes after the request: not a hangup
                continue
            self.on_hangup()
            return

    def close(self) -> None:
        os.write(self.wake_w, b"x")
        self.thread.join()
        os.close(self.wake_r)
        os.close(self.wake_w)
