"""The two locks a build takes: the workspace (one build at a time; a second
waits, and says so) and the cache (shared by builds; `cache gc` needs it alone)."""

from __future__ import annotations

import fcntl
import sys
from contextlib import contextmanager
from pathlib import Path

from .workspace import Workspace, records_dir


@contextmanager
def workspace_lock(ws: Workspace, announce=None):
    """One build at a time per workspace; a second one waits, and says so."""
    path = records_dir(ws) / "lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            (announce or (lambda m: print(m, file=sys.stderr)))(
                "another wasmelt command is building in this workspace; waiting for it to finish ...")
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@contextmanager
def cache_lock(cache_dir: Path, exclusive: bool, wait: bool = True):
    """Builds share the cache (shared lock); `cache gc` needs it alone. Without
    `wait`, yields False at once when another command holds it (else True)."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    with open(cache_dir / "lock", "w") as f:
        mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
        try:
            fcntl.flock(f, mode | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                yield False
                return
            print("the cache is in use by another wasmelt command; waiting ...", file=sys.stderr)
            fcntl.flock(f, mode)
        yield True
