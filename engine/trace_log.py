"""The build trace's log format, and the readers and appenders the null-build
path uses without loading the whole trace (engine.trace.Trace reads and writes
all of it): one versioned, append-only log per workspace of what builds saw
and did, replayed on load and recompacted when mostly redundant.

Format (`<records>/trace`): the line `wasmelt trace v3`, then framed records,
each a 4-byte little-endian payload length, one kind byte, and the marshalled
payload; a later record overrides an earlier one:

    s  sources      {path: [size, mtime_ns, inode, digest, hashed_at_ns]}
                    the content digest of a file, valid while its stat is unchanged;
    a  actions      {action id: {owner, mnemonic, status, reason, key, material,
                    previous, outputs, logs, executable, duration, error}}
                    the last decision about each action, its key material, the
                    material of its previous different key (what `explain`
                    compares) and the digests of its outputs and logs (reused
                    while the material holds);
    f  build_files  {BUILD.toml path: (size, mtime_ns, inode, parsed table)}
                    TOML parsing is most of loading a package: validating is always redone;
    b  build        {"actions": [ids], "decided": [ids] | None, "request": str | None,
                    "inputs": {path: stat} | None, "summary": [actions, [(label, [files])]],
                    "racy": path (only when inputs is None because of it)}
                    the last build: its actions, dependencies first; those it
                    decided one by one (None: all), the others reused unexamined
                    as their `a` records stand (engine.rebuild.untouched); for a successful plain build,
                    what was asked (engine.rebuild.request_of) and the stat
                    (size, mtime_ns, inode; None: absent) of every file and
                    directory it depended on: what a cold process's stat pass
                    checks (engine.rebuild.stat_seeds), unless one was modified
                    within RACY_WINDOW_NS of the build (`racy` names it);
    u  up_to_date   None: the last build found nothing changed;
    p  parsed       {"code": {path: stat}, "argvs": {argv: (patterns, quiet, color)}}
                    what the parser made of the plain builds' argvs, while wasmelt's
                    code keeps those stats (wasmelt.argv_memo); not kept by a
                    rewrite of the log.

The frames let the null-build path read the last `b` record (and whether a `u`
follows it) without unmarshalling the rest. A record cut short by a killed
build ends the replay; what was before it holds. Import-light (marshal, os,
struct): the null-build path reads and appends through it.
"""

from __future__ import annotations

import marshal
import os
import struct

NAME = "trace"
SIGNATURE = b"wasmelt trace v3\n"
# A file modified within this long of when it was hashed is "racily clean": a
# later edit could keep its size and mtime, so it is hashed again next time.
RACY_WINDOW_NS = 2_000_000_000
COMPACT_RATIO = 3  # rewrite when the log is this many times the size of what it holds
_HEADER = struct.Struct("<IB")
_SUCCESS = ("executed", "cached")
KINDS = {"sources": b"s", "actions": b"a", "build_files": b"f", "build": b"b", "up_to_date": b"u", "parsed": b"p"}
_NAMES = {code[0]: name for name, code in KINDS.items()}


def _frame(kind: str, payload) -> bytes:
    data = marshal.dumps(payload)
    return _HEADER.pack(len(data), KINDS[kind][0]) + data


_UP_TO_DATE = _frame("up_to_date", None)


def _frames(data: bytes):
    """(kind, start, end) of each whole record after the signature."""
    pos, size, header = len(SIGNATURE), len(data), _HEADER.size
    while pos + header <= size:
        length, code = _HEADER.unpack_from(data, pos)
        start = pos + header
        if start + length > size or code not in _NAMES:
            return  # cut short by a killed build
        yield _NAMES[code], start, start + length
        pos = start + length


def _headers(fd: int):
    """(kind code, start, length) of each whole record, from the frame headers alone."""
    size = os.fstat(fd).st_size
    if os.pread(fd, len(SIGNATURE), 0) != SIGNATURE:
        return
    pos, header = len(SIGNATURE), _HEADER.size
    while pos + header <= size:
        length, code = _HEADER.unpack(os.pread(fd, header, pos))
        start = pos + header
        if start + length > size or code not in _NAMES:
            return  # cut short by a killed build
        yield code, start, length
        pos = start + length


def last_build(records: str) -> tuple[dict | None, bool]:
    """(the last `build` record, whether an `up_to_date` record follows it),
    reading the frames' headers and that record's payload only: the
    null-build path's one question."""
    try:
        fd = os.open(os.path.join(records, NAME), os.O_RDONLY)
    except OSError:
        return None, False
    try:
        found, up_to_date = None, False
        for code, start, length in _headers(fd):
            if code == 98:  # b"b": build
                found, up_to_date = (start, length), False
            elif code == 117:  # b"u": up_to_date
                up_to_date = True
        if found is None:
            return None, False
        return marshal.loads(os.pread(fd, found[1], found[0])), up_to_date
    except (OSError, EOFError, ValueError, TypeError, struct.error):
        return None, False
    finally:
        os.close(fd)


def last_parsed(records: str):
    """The last `parsed` record's payload (wasmelt.argv_memo's), or None."""
    try:
        fd = os.open(os.path.join(records, NAME), os.O_RDONLY)
    except OSError:
        return None
    try:
        found = None
        for code, start, length in _headers(fd):
            if code == 112:  # b"p": parsed
                found = (start, length)
        return marshal.loads(os.pread(fd, found[1], found[0])) if found else None
    except (OSError, EOFError, ValueError, TypeError, struct.error):
        return None
    finally:
        os.close(fd)


def append_parsed(records: str, payload) -> None:
    """Append a `parsed` record to an existing trace of this version (nothing else is loaded)."""
    path = os.path.join(records, NAME)
    try:
        with open(path, "rb") as f:
            if f.read(len(SIGNATURE)) != SIGNATURE:
                return
    except OSError:
        return
    _append(path, [_frame("parsed", payload)])


def mark_up_to_date(records: str) -> None:
    """Append the up-to-date record, unless the log already ends with it
    (the null-build path: nothing else is loaded)."""
    path = os.path.join(records, NAME)
    try:
        with open(path, "rb") as f:
            f.seek(-len(_UP_TO_DATE), os.SEEK_END)
            if f.read() == _UP_TO_DATE:
                return
    except OSError:
        pass
    _append(path, [_UP_TO_DATE])


def _append(path: str, frames: list[bytes]) -> int:
    data = b"".join(frames)
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT
    fd = os.open(path, flags, 0o644)
    try:
        if os.fstat(fd).st_size == 0:
            data = SIGNATURE + data
        os.write(fd, data)
        return os.fstat(fd).st_size
    finally:
        os.close(fd)
