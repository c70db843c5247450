"""Who a tool is: name, exact version and content digest, for action keys.

A tool's identity, not its location, enters an action key, so the same tool
at another path hits the cache and a changed binary at the same path misses.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


class ToolNotFound(Exception):
    """A configured tool is not installed; the message says how to get it."""


@dataclass(frozen=True)
class ToolIdentity:
    name: str  # what argv[0] is called in an action's command line
    path: str  # where it runs from here (never part of a key)
    version: str
    digest: str  # sha256 of the executable (or of the builtin's sources)

    def key_fields(self) -> tuple[str, str, str]:
        return (self.name, self.version, self.digest)


@functools.lru_cache(maxsize=None)
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def file_sha256(path: str | os.PathLike) -> str:
    st = os.stat(path)
    return _file_sha256(str(path), st.st_size, st.st_mtime_ns)


def find_executable(name: str, hint: str = "") -> str:
    """The absolute path of `name` (a path or a PATH lookup), or ToolNotFound."""
    found = name if os.sep in name and os.access(name, os.X_OK) else None
    found = found or shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if not found:
        raise ToolNotFound(f"`{name}` is not installed or not on PATH. {hint}".strip())
    return os.path.realpath(found)


@functools.lru_cache(maxsize=None)
def _version_of(path: str, flag: str) -> str:
    try:
        out = subprocess.run([path, flag], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"unknown ({e.__class__.__name__})"
    text = (out.stdout or out.stderr).strip().splitlines()
    return text[0] if text else "unknown"


def external_tool(name: str, *, version_flag: str = "--version", hint: str = "") -> ToolIdentity:
    path = find_executable(name, hint)
    return ToolIdentity(name=Path(name).name, path=path, version=_version_of(path, version_flag),
                        digest=file_sha256(path))


@functools.lru_cache(maxsize=None)
def builtin_tool() -> ToolIdentity:
    """The Python interpreter running wasmelt's own stages, identified by the
    interpreter version and the digest of every toolchain source file."""
    root = Path(__file__).parent
    h = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.suffix in (".py", ".c", ".h") and "__pycache__" not in path.parts:
            h.update(str(path.relative_to(root)).encode() + b"\0")
            h.update(path.read_bytes())
    version = "python %d.%d.%d" % sys.version_info[:3]
    return ToolIdentity(name="python", path=sys.executable, version=version, digest=h.hexdigest())
