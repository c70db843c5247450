"""One command's connection to the server: its stdout and stderr sent as
frames of the protocol (engine.client), and a watch for the client hanging up."""

from __future__ import annotations

import io
import os
import socket
import _thread
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
    into KeyboardInterrupt while the command runs).

    Neither starting nor closing it waits for the thread (on a loaded machine
    a new thread may wait a whole time slice to run): once close() returned,
    a lock and a flag keep a late hang-up from being acted on, and the thread
    closes the wake-up pipe itself when it leaves (close() does if it left first)."""

    def __init__(self, on_hangup, conn: socket.socket):
        self.on_hangup, self.conn = on_hangup, conn
        self.wake_r, self.wake_w = os.pipe()
        self.fd = conn.fileno()
        self.lock = threading.Lock()
        self.closed = self.left = False
        _thread.start_new_thread(self._watch, ())

    def _watch(self) -> None:
        import select

        poller = select.poll()
        poller.register(self.wake_r, select.POLLIN)
        with self.lock:
            if self.closed:  # closed before this thread ran: the connection may be another's by now
                return self._leave()
            poller.register(self.fd, select.POLLIN | getattr(select, "POLLRDHUP", 0))  # 0: not Linux
        while True:
            ready = dict(poller.poll())
            if self.wake_r in ready:
                with self.lock:
                    return self._leave()  # the command finished
            try:
                data = self.conn.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if data:
                poller.unregister(self.fd)  # bytes after the request: not a hangup
                continue
            with self.lock:
                if not self.closed:
                    self.on_hangup()
                    self.left = True  # close() closes the pipe
                    return
                return self._leave()

    def _leave(self) -> None:
        """(With the lock held, once closed) the thread's last act: the pipe closed."""
        os.close(self.wake_r)
        os.close(self.wake_w)

    def close(self) -> None:
        with self.lock:
            self.closed = True
            if self.left:
                self._leave()
            else:
                os.write(self.wake_w, b"x")  # the thread closes the pipe as it leaves
