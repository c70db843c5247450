"""File events for the server: the kernel's inotify queue for the workspace,
read when a command arrives, so every change made before it is known without a thread or a wait."""

from __future__ import annotations

import ctypes
import os
import struct

MAX_WATCHED_PATHS = 50_000
# <sys/inotify.h>
_IN_MODIFY, _IN_ATTRIB = 0x2, 0x4
_IN_MOVED_FROM, _IN_MOVED_TO, _IN_CREATE, _IN_DELETE = 0x40, 0x80, 0x100, 0x200
_IN_DELETE_SELF, _IN_MOVE_SELF = 0x400, 0x800
_IN_Q_OVERFLOW, _IN_IGNORED, _IN_ONLYDIR, _IN_DONT_FOLLOW, _IN_ISDIR = 0x4000, 0x8000, 0x1000000, 0x2000000, 0x40000000
_MASK = (_IN_MODIFY | _IN_ATTRIB | _IN_MOVED_FROM | _IN_MOVED_TO | _IN_CREATE | _IN_DELETE
         | _IN_DELETE_SELF | _IN_MOVE_SELF | _IN_ONLYDIR | _IN_DONT_FOLLOW)
_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len; then len bytes of NUL-padded name


class WatchUnavailable(OSError):
    """No inotify here, or too many directories for the user's watch limit: the server stats instead."""


class Watcher:
    """The directories under `roots` (except `ignored` ones, the cache; only the
    roots themselves unless `recursive`) under one inotify instance. The kernel
    queues a change's event inside the system call that makes it, so whatever
    was changed before a command arrived is in the queue then: `sync()` reads
    it to the end (as Watchman's cookie handshake waits for a cookie's event,
    with nothing to wait for). A directory that appears is watched and
    everything in it reported; the queue overflowing (more events than the
    kernel keeps between commands) means "cannot say"."""

    def __init__(self, roots: list[str], ignored: list[str], recursive: bool = True):
        self._libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self._libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self.fd < 0:
            raise WatchUnavailable(ctypes.get_errno(), f"inotify_init1: {os.strerror(ctypes.get_errno())}")
        self.roots, self.recursive = set(roots), recursive
        self.ignored = tuple(p.rstrip(os.sep) + os.sep for p in ignored)
        self.dirs: dict[int, str] = {}  # watch descriptor -> directory
        self.paths: set[str] | None = set()  # changed since the last drain (None: too many to keep)
        self.alive = True
        try:
            for root in roots:
                self._watch_tree(root, report=False)
        except OSError:
            self.close()
            raise

    def _watch_tree(self, top: str, report: bool) -> None:
        """Watch `top` and every directory below it; `report`: they are new, so
        everything in them counts as changed (made before their watch was in place)."""
        stack = [top]
        while stack:
            directory = stack.pop()
            if (directory + os.sep).startswith(self.ignored):
                continue
            wd = self._libc.inotify_add_watch(self.fd, os.fsencode(directory), _MASK)
            if wd < 0:
                errno = ctypes.get_errno()
                if (directory == top and top in self.roots) or errno == 28:  # a root itself, or ENOSPC: the watch limit
                    raise WatchUnavailable(errno, f"inotify_add_watch {directory}: {os.strerror(errno)}")
                continue  # gone again, or not a directory any more: its parent's event says so
            self.dirs[wd] = directory
            try:
                entries = list(os.scandir(directory))  # after the watch: nothing falls in between
            except OSError:
                continue
            for entry in entries:
                if report:
                    self._changed(entry.path)
                if self.recursive and entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)

    def _unwatch_tree(self, top: str) -> None:
        prefix = top + os.sep
        for wd, directory in list(self.dirs.items()):
            if directory == top or directory.startswith(prefix):
                del self.dirs[wd]
                self._libc.inotify_rm_watch(self.fd, wd)

    def _changed(self, path: str) -> None:
        if self.paths is not None and not path.startswith(self.ignored):
            self.paths.add(path)
            if len(self.paths) > MAX_WATCHED_PATHS:
                self.paths = None

    def sync(self) -> bool:
        """Take in every event queued so far; False if the watcher cannot vouch
        for what changed (then the caller must stat)."""
        overflowed = False
        while self.alive:
            try:
                data = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                break
            except OSError:
                self.alive = False
                break
            pos = 0
            while pos + _EVENT.size <= len(data):
                wd, mask, _, size = _EVENT.unpack_from(data, pos)
                name = data[pos + _EVENT.size:pos + _EVENT.size + size].rstrip(b"\0")
                pos += _EVENT.size + size
                if mask & _IN_Q_OVERFLOW:
                    overflowed = True
                else:
                    self._event(wd, mask, os.fsdecode(name))
        if overflowed and self.alive:  # events were lost, new directories' among them: watch them now
            self.paths = None
            try:
                for root in self.roots:
                    self._watch_tree(root, report=False)
            except WatchUnavailable:
                self.alive = False
        return self.alive

    def _event(self, wd: int, mask: int, name: str) -> None:
        directory = self.dirs.get(wd)
        if directory is None:
            return  # a watch removed since (its IN_IGNORED, or events queued before)
        if mask & _IN_IGNORED:
            del self.dirs[wd]
            return
        path = os.path.join(directory, name) if name else directory
        self._changed(path)
        if mask & (_IN_DELETE_SELF | _IN_MOVE_SELF) and directory in self.roots:
            self.alive = False
        elif mask & _IN_ISDIR and mask & _IN_MOVED_FROM:
            self._unwatch_tree(path)  # its watches would name the old path
        elif mask & _IN_ISDIR and mask & (_IN_CREATE | _IN_MOVED_TO) and self.recursive:
            try:
                self._watch_tree(path, report=True)
            except WatchUnavailable:
                self.paths = None  # changes below it would go unseen
                self.alive = False

    def drain_paths(self) -> set[str] | None:
        """The paths that changed since the last drain (None: too many to keep)."""
        paths, self.paths = self.paths, set()
        return paths

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        self.alive = False
