"""File events for the server: OS notifications gathered on a thread, and a
cookie handshake so that every change made before a command has been seen."""

from __future__ import annotations

import os
import threading
import time

COOKIE_TIMEOUT_S = 2.0
MAX_WATCHED_PATHS = 50_000


class Watcher:
    """OS file events for the workspace, gathered on a thread; `sync()` puts
    a cookie file in the watched tree and waits for its event, so every
    change made before the call has been seen (as Buck2 and Watchman do)."""

    def __init__(self, root: str, cookie_dir: str, ignored: list[str]):
        from watchfiles._rust_notify import RustNotify

        os.makedirs(cookie_dir, exist_ok=True)
        paths = [root] if cookie_dir.startswith(root + os.sep) else [root, cookie_dir]
        self.notify = RustNotify(paths, False, False, 0, True, True)
        self.cookie_dir = cookie_dir
        self.ignored = tuple(p.rstrip(os.sep) + os.sep for p in ignored)
        self.cond = threading.Condition()
        self.paths: set[str] | None = set()  # which paths (None: too many to keep)
        self.cookies: set[str] = set()
        self.counter = 0
        self.alive = True
        self.stop_flag = threading.Event()
        self.thread = threading.Thread(target=self._run, name="wasmelt-watch", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            while not self.stop_flag.is_set():
                result = self.notify.watch(20, 1, 500, self.stop_flag)
                if not isinstance(result, set):
                    continue
                with self.cond:
                    for _, path in result:
                        if path.startswith(self.cookie_dir + os.sep):
                            self.cookies.add(path)
                        elif not path.startswith(self.ignored):
                            if self.paths is not None:
                                self.paths.add(path)
                                if len(self.paths) > MAX_WATCHED_PATHS:
                                    self.paths = None
                    self.cond.notify_all()
        except Exception:  # noqa: BLE001 - a dead watcher only costs speed: every command stats again
            with self.cond:
                self.alive = False
                self.cond.notify_all()

    def post_cookie(self) -> str | None:
        """Put a cookie file in the watched tree (None: it cannot be written);
        `sync(cookie)` waits for its event. Posted early, the wait overlaps
        what the caller does meanwhile."""
        self.counter += 1
        cookie = os.path.join(self.cookie_dir, f"cookie-{os.getpid()}-{self.counter}")
        try:
            with open(cookie, "w"):
                pass
        except OSError:
            return None
        return cookie

    def sync(self, cookie: str | None = None) -> bool:
        """Wait until the events of every change made before `cookie` (by
        default one posted now) are in; False if the watcher cannot vouch for
        that (then the caller must stat)."""
        cookie = cookie or self.post_cookie()
        if cookie is None:
            return False
        deadline = time.monotonic() + COOKIE_TIMEOUT_S
        try:
            with self.cond:
                while self.alive and cookie not in self.cookies:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return False
                    self.cond.wait(left)
                return self.alive
        finally:
            self.discard(cookie)

    def discard(self, cookie: str) -> None:
        """Remove a cookie file and forget its event."""
        with self.cond:
            self.cookies.discard(cookie)
        try:
            os.unlink(cookie)
        except OSError:
            pass

    def drain_paths(self) -> set[str] | None:
        """The paths that changed since the last drain (None: too many to keep)."""
        with self.cond:
            paths, self.paths = self.paths, set()
            return paths

    def close(self) -> None:
        self.stop_flag.set()
        self.thread.join(timeout=2)
        try:
            self.notify.close()
        except Exception:  # noqa: BLE001
            pass
