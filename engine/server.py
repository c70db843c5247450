"""The wasmelt server: one background process per workspace (and cache) that
keeps loaded packages, tool identities and a file watcher between commands,
like Bazel's server or Buck2's daemon. Clients forward `build` and `test` to
it over a Unix socket in the cache; it is safe to kill at any time.

    wasmelt server start | stop | status

With `server = true` in the root `[workspace]` table (or WASMELT_SERVER=1) a
build starts it on demand; WASMELT_SERVER=0 keeps every command in-process.
A client whose server is missing, stale (wasmelt's code changed) or dies
mid-command runs the command in-process instead.

The protocol and the client, which must stay import-light, are in engine.client;
starting and stopping it in engine.serverctl; its file watcher in engine.watcher.
"""

from __future__ import annotations

import fcntl
import gc
import json
import os
import queue
import signal
import socket
import sys
import threading
import time

from . import client, rebuild
from .connection import HangupMonitor, command_streams
from .serverctl import PID_NAME
from .watcher import Watcher
from .workspace import Workspace, records_dir
from .workspace_root import guess, package_of

REQUEST_TIMEOUT_S = 10.0  # a client sends its request as soon as it connects


class Server:
    def __init__(self, ws: Workspace, idle_secs: int, frontend):
        self.ws = ws
        self.frontend = frontend  # the command line (wasmelt.commands.server.Frontend): run, parse, plain, report
        self.idle_secs = idle_secs
        self.dir = records_dir(ws)
        self.started = time.time()
        self.commands = 0
        self.incremental = 0  # commands answered from the watcher's changed paths
        self.watcher: Watcher | None = None  # runs between full commands
        self.memo = None  # engine.memo.Memo, made by serve()
        self.watch_files = True
        self.code_files: list[str] = []  # wasmelt's code, as loaded at the start
        self.code_stamp = None  # their stats, or a Watcher of their directories
        self.busy = False  # a request is being served: later arrivals are told they wait
        self.command_running = False  # SIGINT interrupts the command (see HangupMonitor)
        self.interrupt_sent = False

    def _stale(self) -> bool:
        """Whether the code this process runs changed on disk (a new file changes its
        directory: the list is walked once at the start)."""
        if isinstance(self.code_stamp, Watcher):
            return not self.code_stamp.sync() or self.code_stamp.drain_paths() != set()
        return [rebuild.stat_of(f) for f in self.code_files] != self.code_stamp

    def interrupt_command(self) -> None:
        self.interrupt_sent = True
        if os.getpgid(0) == os.getpid():  # started by `server start`: a group of its own
            os.killpg(os.getpid(), signal.SIGINT)
        else:  # a group shared with others: interrupt this process only, running actions finish
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)

    def _on_sigint(self, signum, frame) -> None:
        if self.interrupt_sent:
            self.interrupt_sent = False
            if self.command_running:
                raise KeyboardInterrupt
            return  # the command finished before the signal arrived
        raise KeyboardInterrupt  # someone's Ctrl-C on `wasmelt server serve`

    def serve(self) -> int:
        self.dir.mkdir(parents=True, exist_ok=True)
        lock = open(self.dir / "server.lock", "w")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print("another wasmelt server already serves this workspace", file=sys.stderr)
            return 1
        sock_path = self.dir / client.SOCKET_NAME
        # Bound and listening under another name first: a client that found a
        # socket file nobody listens on would take it for a killed server's.
        new_path = self.dir / f"{client.SOCKET_NAME}.{os.getpid()}"
        new_path.unlink(missing_ok=True)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(client.short_socket_path(str(new_path)))
        listener.listen(16)
        os.replace(new_path, sock_path)
        (self.dir / PID_NAME).write_text(str(os.getpid()))
        from .memo import Memo

        self.memo = Memo()
        self.code_files = rebuild.code_files()
        try:  # events in wasmelt's directories (no stats per command); else their stats
            self.code_stamp = Watcher([f for f in self.code_files if os.path.isdir(f)], [], recursive=False)
        except Exception:  # noqa: BLE001
            self.code_stamp = [rebuild.stat_of(f) for f in self.code_files]
        signal.signal(signal.SIGINT, self._on_sigint)
        print(f"wasmelt server pid {os.getpid()} serving {self.ws.root}", file=sys.stderr, flush=True)
        arrivals: queue.Queue = queue.Queue()
        threading.Thread(target=self._doorman, args=(listener, arrivals), name="doorman", daemon=True).start()
        last_used = time.monotonic()
        try:
            while True:
                try:
                    conn, message = arrivals.get(timeout=min(self.idle_secs, 10))
                except queue.Empty:
                    gone = not self.ws.root.exists() or not self.dir.exists()
                    if gone or time.monotonic() - last_used > self.idle_secs:
                        return 0
                    continue
                self.busy = True
                try:
                    with conn:
                        if not self._handle(conn, message):
                            return 0
                finally:
                    self.busy = False
                    last_used = time.monotonic()
        finally:
            sock_path.unlink(missing_ok=True)
            (self.dir / PID_NAME).unlink(missing_ok=True)
            if self.watcher:
                self.watcher.close()

    def _start_watching(self) -> None:
        if self.watcher is not None or not self.watch_files:
            return
        try:
            self.watcher = Watcher([str(self.ws.root)], [str(self.ws.cache_dir)])
        except Exception as e:  # noqa: BLE001 - no watcher: every command stats instead
            print(f"file watching unavailable ({e}); checking stats on every command", file=sys.__stderr__)
            self.watch_files = False

    def _stop_watching(self) -> None:
        if self.memo is not None:
            self.memo.unanchor()  # a gap in the watching: changes could go unseen
        if self.watcher is not None:
            self.watcher.close()
            self.watcher = None

    def _send(self, conn: socket.socket, kind: bytes, body: bytes) -> None:
        try:
            conn.sendall(client.frame(kind, body))
        except OSError:
            pass

    def _doorman(self, listener: socket.socket, arrivals) -> None:
        """Accept connections and read their requests on a thread of its own:
        `status` is answered at once, and a client that arrives while another
        command runs is told that it waits (as an in-process build waiting
        for the workspace lock is)."""
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return  # the listener is closed: the server is exiting
            try:
                conn.settimeout(REQUEST_TIMEOUT_S)
                message = client.read_message(conn)
                conn.settimeout(None)
            except OSError:
                conn.close()
                continue
            if message is None:
                self._send(conn, b"r", b"protocol")  # another version's client: it runs the command itself
                conn.close()
            elif message.get("control") == "status":
                body = {"pid": os.getpid(), "uptime_s": time.time() - self.started, "commands": self.commands,
                        "watching": self.watch_files, "root": str(self.ws.root), "incremental": self.incremental,
                        "busy": self.busy}
                self._send(conn, b"x", json.dumps(body).encode())
                conn.close()
            else:
                if self.busy:
                    self._send(conn, b"e", b"wasmelt: the server is running another command; "
                                           b"waiting for it to finish ...\n")
                arrivals.put((conn, message))

    def _handle(self, conn: socket.socket, message: dict) -> bool:
        """Serve one request; False when the server should exit."""
        if message.get("control") == "stop":
            self._send(conn, b"x", b"0")
            return False
        if self._stale():
            self._send(conn, b"r", b"stale")  # wasmelt changed: the client runs it, we make way
            return False
        self.commands += 1
        gc.disable()  # see wasmelt.cli: collect once the client has its answer instead
        try:
            try:
                code = self._run(conn, message)
            except KeyboardInterrupt:  # arrived as _run was returning: the client is gone anyway
                sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
                code = 130
            if code is None:
                self._send(conn, b"r", b"")
            else:
                self._send(conn, b"x", str(code).encode())
        finally:
            conn.close()
            gc.enable()
            gc.collect()
            gc.freeze()  # what survives (packages, memos) is long-lived: keep it out of later passes
        return True

    def _run(self, conn: socket.socket, message: dict) -> int | None:
        """One command."""
        started = time.monotonic()
        argv = list(message["argv"])
        os.chdir(message["cwd"])
        if os.environ != message["env"]:
            os.environ.clear()
            os.environ.update(message["env"])
        out, err = command_streams(conn, bool(message.get("tty")))
        saved = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = out, err
        self.memo.synced = False
        try:
            self.command_running = True
            try:
                if not message.get("expanded"):  # the native client's argv as typed: the rc files apply here
                    argv = self.frontend.expand(argv, message["cwd"])  # a bad one: its ERROR line, exit 2
                    err.flush()
                    # An empty stderr frame: the rc files were applied and announced (--announce_rc) here. A
                    # command not finished then runs again in the client's Python, which must not announce again.
                    self._send(conn, b"e", b"")
                args = self.frontend.parse(argv)  # the one parser: a bad flag exits 2, as in-process
            except SystemExit as e:
                return e.code if isinstance(e.code, int) else 1
            root = guess(message["cwd"]) if args.command in client.FORWARDED else None
            memo = self.memo
            if root == str(self.ws.root):  # unparsed: an edited root BUILD.toml is a seed, no answer rests on it
                request = rebuild.request_of(package_of(root, message["cwd"]), args.patterns)
                self._start_watching()
                synced = self.watcher is not None and self.watcher.sync()
                memo.note(self.watcher.drain_paths() if synced else None)
                memo.synced = synced
                # The one decision: no seed from the watcher (or, unwatched, from a
                # stat pass over the trace) and the same request: everything is reused.
                seeds = memo.watched_seeds(request)
                plain = self.frontend.plain(args)
                before = rebuild.stat_of(str(self.dir / "trace"))
                own = memo.holds(before)
                # The last build record is the memo's unless another process wrote the trace.
                last = memo.last_record(str(self.dir), before) if plain else (None, False)
                answer = rebuild.null_build(str(self.dir), request, seeds, last) if plain else None
                if answer is not None:
                    memo.answered(before)
                    if seeds is not None:
                        self.incremental += 1
                    elif synced:  # verified by the stat pass, watched since: the next one is not
                        memo.anchor(request, last[0]["inputs"], str(self.ws.root), own, self.code_files)
                    return self.frontend.report.up_to_date(*answer, args.quiet, started)
            # The build itself. The first one (a cold build, tens of thousands of
            # outputs and new directories) runs unwatched: the events would keep
            # the watcher busy on a core the build needs. Later ones write few
            # files and keep it running, so their result is watched from the start.
            watched = self.watcher is not None and memo.last is not None
            if not watched:
                self._stop_watching()
            memo.seeded = False
            before = memo.last
            # A client that hangs up from here on was interrupted (the answers
            # above take milliseconds: they finish, and their frames go nowhere).
            monitor = HangupMonitor(self.interrupt_command, conn)
            try:
                return self.frontend.run(argv, memo)
            except SystemExit as e:
                return e.code if isinstance(e.code, int) else 1
            finally:
                monitor.close()
                if memo.consumed:  # interrupted after taking the seeds: what changed is no longer known
                    memo.consumed = False
                    memo.unanchor()
                if memo.seeded:
                    self.incremental += 1
                if memo.last is not None and memo.last is not before:
                    memo.anchored = watched and self.watcher is not None and self.watcher.alive
                elif memo.last is None:
                    memo.unanchor()
        except KeyboardInterrupt:  # the client hung up: see HangupMonitor
            print("interrupted", file=sys.stderr)
            return 130
        except Exception:  # noqa: BLE001 - never let one command take the server down
            import traceback

            traceback.print_exc()
            return 1
        finally:
            self.command_running = False
            for stream in (out, err):
                try:
                    stream.flush()
                except (OSError, ValueError):
                    pass
            sys.stdout, sys.stderr = saved
