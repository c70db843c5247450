"""File-system errors as one line that says what to do, and the check, before
a build, that a file a flag names can be written."""

from __future__ import annotations

import os
from pathlib import Path


def explain_os_error(e: OSError) -> str:
    """One line for a file-system error that stopped a command: the path, what
    went wrong, what to do. The store's writes are atomic: nothing is left half
    written."""
    import errno

    path = e.filename or ""
    if e.errno == errno.ENOSPC:
        return f"no space left on the device holding {path or 'the cache'}; free some space (or run `wasmelt cache gc`) and build again"
    if e.errno == errno.ENOTDIR and path:
        parent = Path(path)
        while parent != parent.parent and not parent.exists():
            parent = parent.parent
        blocker = next((p for p in [parent, *parent.parents] if p.exists() and not p.is_dir()), parent)
        return f"`{blocker}` is a file where wasmelt needs a directory (for {path}); move it away"
    if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return (f"cannot write {path}: {e.strerror}; make it writable, or point the cache elsewhere with "
                "WASMELT_CACHE=/some/dir")
    return f"{path + ': ' if path else ''}{e.strerror or e}"


def check_writable_file(flag: str, value: str | None) -> None:
    """A file a flag names (a profile, an event log, a report) can be created:
    checked before the build runs, not after."""
    if not value:
        return
    from .errors import ConfigError

    path = Path(value)
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise ConfigError(f"{flag} {value}: is a directory; name a file")
    if not parent.is_dir():
        raise ConfigError(f"{flag} {value}: the directory {parent} does not exist; create it first")
    if not os.access(parent, os.W_OK):
        raise ConfigError(f"{flag} {value}: the directory {parent} is not writable")
