"""The whole-build "up to date" check: after a successful build, remember the
stat of everything it depended on; the same build again, with nothing changed,
answers without loading packages, analysing targets or consulting the cache.

What is remembered, per (workspace, command directory, patterns, PATH): the stat
(size, mtime_ns, inode; None for "absent") of every BUILD.toml loaded, every
directory a recursive pattern walked, every source as it was when hashed, every
output, every tool an action runs and every file of wasmelt's own code. Files
modified within the timestamp granularity of the recording could change again
unseen: the manifest is kept only when none is, so the next build takes the
full path.

This module is on the null-build path: it imports nothing heavy.
"""

from __future__ import annotations

import marshal
import os
import sys
import time

from .workspace import BUILD_FILE, SKIPPED_DIRS, Workspace, records_dir

FORMAT = 1
# A file whose mtime is this close to the recording could be modified again
# within the same timestamp tick (a jiffy, <= 10 ms, on Linux filesystems)
# without changing its stat: such a record is not kept.
RACY_WINDOW_NS = 100_000_000
MANIFEST_DIR = "up-to-date"
# Flags that change nothing about what an up-to-date build prints or leaves.
NEUTRAL_FLAGS = {"-q": 0, "--quiet": 0, "-j": 1, "--jobs": 1, "-k": 0, "--keep_going": 0, "--keep-going": 0,
                 "--progress": 1, "--action_timeout": 1}

Stat = tuple[int, int, int] | None


def stat_of(path: str) -> Stat:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns, st.st_ino)


def code_files() -> list[str]:
    """Every file of the wasmelt packages loaded in this process (their
    directories walked, so data files such as C runtimes count too), and those
    directories themselves (a new file changes the directory's mtime)."""
    roots = set()
    for name, module in list(sys.modules.items()):
        if name == "wasmelt" or name.startswith("wasmelt."):
            path = getattr(module, "__file__", None)
            if path:
                roots.add(os.path.dirname(os.path.abspath(path)))
    found = []
    for root in sorted(roots):
        stack = [root]
        while stack:
            directory = stack.pop()
            found.append(directory)
            try:
                entries = list(os.scandir(directory))
            except OSError:
                continue
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    if entry.name != "__pycache__" and entry.path not in roots:
                        stack.append(entry.path)
                elif entry.name.endswith((".py", ".c", ".h")):
                    found.append(entry.path)
    return sorted(set(found))


def manifest_path(ws: Workspace, cwd_package: str, patterns: list[str]) -> str:
    from xxhash import xxh3_128_hexdigest  # engine.actions.digest_bytes, without importing the action model

    ident = "\0".join([cwd_package, os.environ.get("PATH", ""), sys.executable, *patterns])
    return os.path.join(records_dir(ws), MANIFEST_DIR, xxh3_128_hexdigest(ident.encode())[:24])


# -- recording (after a successful build, on the full path) -------------------

def record(ws: Workspace, cwd_package: str, patterns: list[str], *, build_files: dict[str, Stat],
           walked_dirs: dict[str, Stat], sources: dict[str, Stat], outputs: list[str], tools: dict[str, Stat],
           actions: int, labels: list[tuple[str, list[str]]]) -> bool:
    """Write the manifest; False (and any older one removed) when a file is racy."""
    path = manifest_path(ws, cwd_package, patterns)
    now = time.time_ns()
    entries: dict[str, Stat] = {}
    entries.update(walked_dirs)
    entries.update(build_files)
    entries.update(sources)
    entries.update(tools)
    for out in outputs:
        entries[out] = stat_of(out)
    for f in code_files():
        entries[f] = stat_of(f)
    racy = any(s is not None and s[1] + RACY_WINDOW_NS >= now for s in entries.values())
    if racy:
        try:
            os.unlink(path)
        except OSError:
            pass
        return False
    paths = list(entries)
    data = marshal.dumps((FORMAT, sys.version, paths, [entries[p] for p in paths], actions, labels))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
    return True


# -- checking (before anything is loaded) -------------------------------------

def check(ws: Workspace, cwd_package: str, patterns: list[str]) -> tuple[int, list] | None:
    """(number of actions, [(label, [output paths])]) when the last successful
    build of these patterns is still up to date, else None."""
    try:
        with open(manifest_path(ws, cwd_package, patterns), "rb") as f:
            fmt, version, paths, stats, actions, labels = marshal.loads(f.read())
    except (OSError, ValueError, EOFError, TypeError):
        return None
    if fmt != FORMAT or version != sys.version:
        return None
    stat = os.stat
    for path, want in zip(paths, stats):
        try:
            st = stat(path)
        except OSError:
            if want is None:
                continue
            return None
        if want is None or st.st_mtime_ns != want[1] or st.st_size != want[0] or st.st_ino != want[2]:
            return None
    return actions, labels


def walk_packages(ws: Workspace, under: str, walked: dict[str, Stat] | None = None) -> list[str]:
    """Every package at or below `under`, sorted; each directory is stat'ed
    before it is listed into `walked` (a later change shows in its mtime)."""
    base = os.path.join(ws.root, under) if under else str(ws.root)
    root = str(ws.root)
    found = []
    stack = [base]
    while stack:
        directory = stack.pop()
        if walked is not None:
            walked[directory] = stat_of(directory)
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        subdirs = []
        for entry in entries:
            if entry.name == BUILD_FILE and not entry.is_dir():
                rel = os.path.relpath(directory, root)
                found.append("" if rel == "." else rel.replace(os.sep, "/"))
            elif entry.is_dir(follow_symlinks=False) and entry.name not in SKIPPED_DIRS and not entry.name.startswith("."):
                subdirs.append(entry.path)
        stack.extend(sorted(subdirs, reverse=True))
    return sorted(found)


def parse_build_argv(argv: list[str]) -> tuple[list[str], bool] | None:
    """(patterns, quiet) of `build PATTERNS [neutral flags]`, else None."""
    if not argv or argv[0] != "build":
        return None
    patterns, quiet, i = [], False, 1
    while i < len(argv):
        arg = argv[i]
        name = arg.split("=", 1)[0]
        if arg.startswith("-j") and arg[2:].isdigit():
            i += 1
            continue
        if name in NEUTRAL_FLAGS:
            quiet = quiet or name in ("-q", "--quiet")
            i += 1 + (NEUTRAL_FLAGS[name] if "=" not in arg else 0)
            continue
        if arg.startswith("-"):
            return None
        patterns.append(arg)
        i += 1
    return (patterns, quiet) if patterns else None


def locate(cwd=None):
    """(workspace, command package) for the current directory, or None."""
    from pathlib import Path

    from .errors import WasmeltError
    from .workspace import find_workspace

    try:
        cwd = Path(cwd) if cwd else Path.cwd()
        ws = find_workspace(cwd)
        return ws, ws.package_of(cwd)
    except (WasmeltError, OSError):
        return None


def check_locked(ws: Workspace, package: str, patterns: list[str]) -> tuple[int, list] | None:
    """check() under the workspace lock (None while another build runs: the full
    path waits for it and says so); marks the records of the last build reused."""
    import fcntl

    records = records_dir(ws)
    try:
        lock = open(records / "lock", "w")
    except OSError:
        return None
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None
        result = check(ws, package, patterns)
        if result is not None:
            from .trace import mark_up_to_date

            mark_up_to_date(str(records))
        return result


def try_null_build(argv: list[str], located=None) -> tuple[int, list, bool] | None:
    """`wasmelt build PATTERNS [neutral flags]` answered from the manifest:
    (actions, named targets, quiet) to print, or None when the full command must run."""
    parsed = parse_build_argv(argv)
    if parsed is None:
        return None
    located = located or locate()
    if located is None:
        return None
    result = check_locked(*located, parsed[0])
    if result is None:
        return None
    return (*result, parsed[1])
