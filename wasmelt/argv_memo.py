"""What the one parser (wasmelt.main.parse) made of a plain build's argv, remembered per workspace,
so the null build of the same argv needs neither argparse nor the parser; builtin modules only.

The answer of a parse is a function of the argv (after the rc files), the parser's code and the
interpreter: an entry holds for the same argv, sys.executable and sys.version, while every
file and directory of wasmelt's code the parsing process had loaded keeps its stat (size,
mtime, inode; one changed, or a file added beside them, and the next command parses afresh).
The parse reads no environment variable (COLUMNS only shapes help and error text, which an
argv that parsed has none of). Kept in the trace as its `parsed` record (engine.trace).
"""

import os
import sys
import time

from wasmelt.engine import trace_log as trace

MAX_ARGVS = 16  # distinct argvs kept: a workspace's few habitual commands


def _stat(path: str):
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns, st.st_ino)


def _key(argv: list[str]) -> tuple:
    return (*argv, "\0", sys.executable, sys.version)


def _load(records: str) -> dict | None:
    memo = trace.last_parsed(records)
    return memo if isinstance(memo, dict) and isinstance(memo.get("argvs"), dict) else None


def recall(records: str, argv: list[str]) -> tuple[list[str], bool, str] | None:
    """(patterns, quiet, color) of a plain build the parser accepted `argv` as, with the
    same code and interpreter; None: parse it."""
    memo = _load(records)
    entry = memo["argvs"].get(_key(argv)) if memo is not None else None
    if entry is None or not memo.get("code"):
        return None
    if any(_stat(path) != st for path, st in memo["code"].items()):
        return None
    return entry


def remember(records: str, argv: list[str], patterns: list[str], quiet: bool, color: str, code: list[str]) -> None:
    """Keep what the parser made of `argv` (a plain build); `code`: the files and
    directories of wasmelt's code loaded to parse it (engine.rebuild.code_files)."""
    stats = {path: _stat(path) for path in code}
    newest = time.time_ns() - trace.RACY_WINDOW_NS  # code this fresh could change again keeping its stat
    if not stats or any(st is None or st[1] >= newest for st in stats.values()):
        return
    import fcntl

    try:
        lock = open(os.path.join(records, "lock"), "w")
    except OSError:
        return
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the trace's one writer at a time; busy: skip
        except BlockingIOError:
            return
        memo = _load(records)
        argvs = memo["argvs"] if memo is not None and memo.get("code") == stats else {}
        if len(argvs) >= MAX_ARGVS:
            argvs.clear()
        argvs[_key(argv)] = (list(patterns), bool(quiet), color)
        trace.append_parsed(records, {"code": stats, "argvs": argvs})
