"""Remembered source digests keyed by (size, mtime_ns, inode), so a no-op
build stats files instead of re-reading them.

A file modified within RACY_WINDOW_NS of when it was hashed is "racily clean":
a later edit could keep the same size and mtime, so it is hashed again.
"""

from __future__ import annotations

import marshal
import os
import time
from pathlib import Path

from .store import _atomic_write, digest_file

RACY_WINDOW_NS = 2_000_000_000


class StatCache:
    def __init__(self, path: Path):
        self.path = path
        self.entries: dict[str, list] = {}  # path -> [size, mtime_ns, ino, digest, hashed_at_ns]
        self.dirty = False
        self.hashed = 0  # files read this run
        try:
            # marshal: ~10x faster than JSON for the 20k entries of a 10k-target build
            entries = marshal.loads(path.read_bytes())
            self.entries = entries if isinstance(entries, dict) else {}
        except (OSError, ValueError, EOFError, TypeError):
            self.entries = {}

    def digest(self, path: str, st: os.stat_result | None = None) -> str:
        """The content digest of `path` (`st`: its stat, if the caller has it)."""
        st = st or os.stat(path)
        entry = self.entries.get(path)
        if (entry and entry[0] == st.st_size and entry[1] == st.st_mtime_ns and entry[2] == st.st_ino
                and st.st_mtime_ns + RACY_WINDOW_NS < entry[4]):
            return entry[3]
        hashed_at = time.time_ns()
        digest = digest_file(path)
        self.hashed += 1
        self.entries[path] = [st.st_size, st.st_mtime_ns, st.st_ino, digest, hashed_at]
        self.dirty = True
        return digest

    def save(self) -> None:
        if self.dirty:
            _atomic_write(self.path, marshal.dumps(self.entries))
            self.dirty = False
