"""The cache kept under its size limit after each build: a running estimate in
a stamp file, measured now and then, `gc` when it is over."""

from __future__ import annotations

import os
from pathlib import Path

from .blobs import _atomic_write
from .store import Store


def tool_caches(cache_dir: Path) -> tuple[Path, ...]:
    """The tool caches kept in the wasmelt cache: zig's (engine.sandbox.zig_cache_dir), unless
    the user's ZIG_GLOBAL_CACHE_DIR puts it elsewhere (theirs to manage)."""
    return () if os.environ.get("ZIG_GLOBAL_CACHE_DIR") else (cache_dir / "zig",)


SIZE_STAMP = "size"  # "<bytes> <builds>": the cache's size as last measured, plus what builds added since
REMEASURE_EVERY = 50  # builds between two measurements (what a tool cache grew by is seen then)


def limit_cache(cache_dir: Path, max_bytes: int, added: int) -> dict[str, int] | None:
    """After a build that wrote `added` bytes of outputs: gc down to `max_bytes` when the
    cache is over it and no other command holds the cache (else the next build tries again).
    The size is measured (a walk of the CAS) only when the running estimate says it may be
    over, or every REMEASURE_EVERY builds; a build in between costs one small file."""
    from .locks import cache_lock

    stamp = cache_dir / SIZE_STAMP
    try:
        known, builds = (int(x) for x in stamp.read_text().split())
    except (OSError, ValueError):
        known, builds = None, 0
    if known is not None and known + added <= max_bytes and builds < REMEASURE_EVERY:
        _write_stamp(stamp, known + added, builds + 1)
        return None
    store = Store(cache_dir)
    caches = tool_caches(cache_dir)
    size = store.size(caches)
    counts = None
    if size > max_bytes:
        with cache_lock(cache_dir, exclusive=True, wait=False) as alone:
            if alone:
                counts = store.gc(max_bytes, caches)
                size = counts["bytes"]
    _write_stamp(stamp, size, 0)
    return counts


def _write_stamp(stamp: Path, size: int, builds: int) -> None:
    """The stamp at a fixed width, rewritten in place: renaming a file over
    another (or truncating one) makes ext4 write it out at once, ~1-3 ms of
    every build on a busy disk. A reader never sees a half-written estimate
    (one page, one write); a damaged one is measured again."""
    data = f"{size:20d} {builds:6d}\n".encode()
    try:
        fd = os.open(stamp, os.O_WRONLY | os.O_CLOEXEC)
    except OSError:
        fd = None
    if fd is not None:
        try:
            if os.fstat(fd).st_size == len(data) and os.pwrite(fd, data, 0) == len(data):
                return
        finally:
            os.close(fd)
    _atomic_write(stamp, data)  # new, or of another width
