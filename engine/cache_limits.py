"""The cache kept under its size limit after each build: a running estimate in
a stamp file, measured when it says the limit is passed, `gc` when it is over."""

from __future__ import annotations

import os
from pathlib import Path

from .blobs import _atomic_write, tree_bytes
from .store import Store


def tool_caches(cache_dir: Path) -> tuple[Path, ...]:
    """The tool caches kept in the wasmelt cache: zig's (engine.sandbox.zig_cache_dir), unless
    the user's ZIG_GLOBAL_CACHE_DIR puts it elsewhere (theirs to manage)."""
    return () if os.environ.get("ZIG_GLOBAL_CACHE_DIR") else (cache_dir / "zig",)


# "<bytes> <builds> <tool bytes> <tool signature>": the cache's size (measured, plus what builds added
# since), the builds since the tool caches were last looked at, their size then and their signature.
SIZE_STAMP = "size"
REMEASURE_EVERY = 50  # builds between two looks at the tool caches (what zig added is not in `added`)
GC_TARGET = 0.9  # a gc after a build keeps this much of the limit: the builds after it add before one walks again


def limit_cache(cache_dir: Path, max_bytes: int, added: int) -> dict[str, int] | None:
    """After a build that wrote `added` bytes of outputs: gc down to GC_TARGET of `max_bytes` when
    the cache is over the limit and no other command holds the cache (else the next build tries again).
    The CAS is walked only when the running estimate is missing or says the limit is passed; every
    REMEASURE_EVERY builds the tool caches are looked at (a few stats), and walked only if they
    changed. Any other build costs one small file."""
    stamp = cache_dir / SIZE_STAMP
    try:
        words = [int(x) for x in stamp.read_text().split()]
        known, builds = words[:2]
        tools, signature = words[2:] if len(words) == 4 else (-1, 0)  # an older version's: tools unknown
    except (OSError, ValueError):
        known = None
    if known is None or known + added > max_bytes:
        return _measure(cache_dir, max_bytes)
    size = known + added
    if builds + 1 >= REMEASURE_EVERY:
        if tools < 0:
            return _measure(cache_dir, max_bytes)
        caches = tool_caches(cache_dir)
        now = tool_signature(caches)
        if now != signature:  # zig wrote: its caches walked, the CAS's estimate kept
            measured = sum(tree_bytes(c) for c in caches)
            size, tools, signature = size - tools + measured, measured, now
            if size > max_bytes:
                return _measure(cache_dir, max_bytes)
        builds = -1
    _write_stamp(stamp, size, builds + 1, tools, signature)
    return None


def _measure(cache_dir: Path, max_bytes: int) -> dict[str, int] | None:
    """Walk the cache (CAS, action entries, tool caches); gc when it is over `max_bytes`."""
    from .locks import cache_lock

    store = Store(cache_dir)
    caches = tool_caches(cache_dir)
    signature = tool_signature(caches)
    tools = sum(tree_bytes(c) for c in caches)
    size = store.size() + tools
    counts = None
    if size > max_bytes:
        with cache_lock(cache_dir, exclusive=True, wait=False) as alone:
            if alone:
                counts = store.gc(int(max_bytes * GC_TARGET), caches)
                size = counts["bytes"]
                signature = tool_signature(caches)  # a tool cache over the limit by itself is removed
                tools = sum(tree_bytes(c) for c in caches)
    _write_stamp(cache_dir / SIZE_STAMP, size, 0, tools, signature)
    return counts


def tool_signature(caches: tuple[Path, ...]) -> int:
    """What changes when a tool writes to its cache, in a few stats: the mtimes of each cache
    directory and of the directories in it (zig adds entries to o/, h/, z/ and tmp/)."""
    import zlib

    seen = []
    for cache in caches:
        try:
            seen.append((cache.name, os.stat(cache).st_mtime_ns))
            with os.scandir(cache) as entries:
                seen += sorted((e.name, e.stat(follow_symlinks=False).st_mtime_ns)
                               for e in entries if e.is_dir(follow_symlinks=False))
        except OSError:
            seen.append((cache.name, None))
    return zlib.crc32(repr(seen).encode())


def _write_stamp(stamp: Path, size: int, builds: int, tools: int, signature: int) -> None:
    """The stamp at a fixed width, rewritten in place: renaming a file over
    another (or truncating one) makes ext4 write it out at once, ~1-3 ms of
    every build on a busy disk. A reader never sees a half-written estimate
    (one page, one write); a damaged one is measured again."""
    data = f"{size:20d} {builds:6d} {tools:20d} {signature:10d}\n".encode()
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
