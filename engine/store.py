"""The local store: a content-addressed blob store (CAS) and an action cache
(action key -> output digests), both written atomically and verified on read.
An entry is bound to its key; outputs are taken only as regular files, streamed."""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

import xxhash

from .actions import digest_bytes

DIGEST_MAP_DIR = "sha256"  # xxHash -> SHA-256 of blobs sent to a remote cache
CHUNK = 1 << 20


class OutputRefused(Exception):
    """An action's output is not a regular file reached without symlinks."""


def digest_file(path: str | os.PathLike) -> str:
    h = xxhash.xxh3_128()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _temp_in(directory: str | os.PathLike) -> tuple[int, str]:
    """A new temporary file in `directory`, made if missing: (fd, name)."""
    try:
        return tempfile.mkstemp(dir=directory, prefix=".tmp-")
    except FileNotFoundError:
        os.makedirs(directory, exist_ok=True)
        return tempfile.mkstemp(dir=directory, prefix=".tmp-")


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = _temp_in(os.path.dirname(path))
    try:
        os.fchmod(fd, 0o644)  # mkstemp makes 0600; outputs are meant to be read by other tools and users
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with _suppress():
            os.unlink(tmp)
        raise


class _suppress:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return exc[0] is not None and issubclass(exc[0], OSError)


def open_regular(root: str | os.PathLike, rel: str) -> int:
    """A read-only descriptor of root/rel, refusing a symlink at any step
    (an output directory replaced by a link to /etc) and anything but a
    regular file at the end."""
    parts = rel.split("/")
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for part in parts[:-1]:
            try:
                nxt = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            except OSError:
                raise OutputRefused(f"`{rel}`: `{part}` is not a plain directory (a symlink?)") from None
            os.close(fd)
            fd = nxt
        try:
            out = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=fd)
        except FileNotFoundError:
            raise
        except OSError:
            raise OutputRefused(f"`{rel}` is a symlink") from None
    finally:
        os.close(fd)
    mode = os.fstat(out).st_mode
    if not stat.S_ISREG(mode):
        os.close(out)
        kind = "a directory" if stat.S_ISDIR(mode) else "not a regular file (a fifo, socket or device)"
        raise OutputRefused(f"`{rel}` is {kind}")
    return out


@dataclass(frozen=True)
class CachedResult:
    outputs: dict[str, str]  # output path -> digest
    stdout: str  # digest of captured stdout
    stderr: str
    executable: frozenset[str] = frozenset()  # outputs with their executable bit set (REAPI is_executable)


def _entry_check(key: str, body: dict) -> str:
    """The checksum of an action entry covers its key: an entry copied under
    another key fails it."""
    return digest_bytes(json.dumps({"key": key, "result": body}, sort_keys=True).encode())


class Store:
    def __init__(self, cache_dir: Path):
        self.root = cache_dir
        self.cas_dir = cache_dir / "cas"
        self.ac_dir = cache_dir / "ac"
        self._cas, self._ac = str(self.cas_dir), str(self.ac_dir)
        self.corrupt_entries: list[str] = []  # what reads found damaged this run
        self.repaired: list[str] = []  # damaged blobs restored from a verified copy

    def _blob_path(self, digest: str) -> Path:
        return self.cas_dir / digest[:2] / digest[2:]

    def put_bytes(self, data: bytes) -> str:
        digest = digest_bytes(data)
        path = self._blob_path(digest)
        if not path.exists():
            _atomic_write(path, data)
        return digest

    def put_file(self, source: Path) -> str:
        """Copy a file into the CAS (never linking: a later edit of the source
        must not reach the stored blob)."""
        return self.put_output(source.parent, source.name)[0]

    def put_output(self, root: str | os.PathLike, rel: str) -> tuple[str, bool]:
        """Stream root/rel into the CAS, hashing as it copies: (digest,
        executable). Raises OutputRefused for a symlink or a special file."""
        fd = open_regular(root, rel)
        executable = bool(os.fstat(fd).st_mode & 0o100)
        try:
            tmp_fd, tmp = _temp_in(self._cas)
        except BaseException:
            os.close(fd)
            raise
        try:
            h = xxhash.xxh3_128()
            with os.fdopen(fd, "rb") as src, os.fdopen(tmp_fd, "wb") as dst:
                os.fchmod(dst.fileno(), 0o644)
                for chunk in iter(lambda: src.read(CHUNK), b""):
                    h.update(chunk)
                    dst.write(chunk)
            digest = h.hexdigest()
            path = f"{self._cas}/{digest[:2]}/{digest[2:]}"
            if os.path.exists(path):
                os.unlink(tmp)
            else:
                try:
                    os.replace(tmp, path)
                except FileNotFoundError:  # the shard's first blob
                    os.makedirs(os.path.dirname(path), exist_ok=True)
                    os.replace(tmp, path)
            return digest, executable
        except BaseException:
            with _suppress():
                os.unlink(tmp)
            raise

    def has(self, digest: str) -> bool:
        # Plain strings: this runs for every blob of every cache hit.
        return os.path.isfile(f"{self._cas}/{digest[:2]}/{digest[2:]}")

    def get_bytes(self, digest: str) -> bytes | None:
        """The blob, or None when it is missing or fails verification (a
        damaged blob is deleted and reported, never returned)."""
        path = self._blob_path(digest)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        if digest_bytes(data) != digest:
            self.corrupt_entries.append(f"blob {digest}")
            with _suppress():
                path.unlink()
            return None
        return data

    def materialize(self, digest: str, dest: Path, executable: bool = False) -> bool:
        """Write the verified blob to dest as a fresh file (a copy, so editing
        the output never corrupts the cache), streaming; False when the blob
        is missing or damaged (then it is deleted and reported)."""
        path = self._blob_path(digest)
        try:
            src = open(path, "rb")
        except FileNotFoundError:
            return False
        try:
            there = os.lstat(dest).st_mode
        except FileNotFoundError:
            there = None
        if there is not None and stat.S_ISDIR(there):
            shutil.rmtree(dest)
            there = None
        try:
            fd, tmp = _temp_in(os.path.dirname(dest))
        except BaseException:
            src.close()
            raise
        try:
            h = xxhash.xxh3_128()
            with src, os.fdopen(fd, "wb") as dst:
                os.fchmod(dst.fileno(), 0o755 if executable else 0o644)
                for chunk in iter(lambda: src.read(CHUNK), b""):
                    h.update(chunk)
                    dst.write(chunk)
            if h.hexdigest() != digest:
                self.corrupt_entries.append(f"blob {digest}")
                with _suppress():
                    path.unlink()
                os.unlink(tmp)
                return False
            if there is not None:
                # Replaced in two steps: ext4 writes a file renamed over another
                # out at once (auto_da_alloc), ~1 ms on a busy disk; the path is
                # never half-written either way, only briefly absent.
                with _suppress():
                    os.unlink(dest)
            os.replace(tmp, dest)
            return True
        except BaseException:
            with _suppress():
                os.unlink(tmp)
            raise

    def stage(self, digest: str, dest: Path, copy: Path) -> bool:
        """An action's generated input at dest: from the verified blob, or,
        when the blob is damaged or gone, from `copy` (its output in
        wasmelt-out) once that is verified too, repairing the blob. The
        executable bit is the one the output was given."""
        try:
            executable = bool(os.lstat(copy).st_mode & 0o100)
        except OSError:
            executable = False
        if self.materialize(digest, dest, executable):
            return True
        return self.repair(digest, copy) and self.materialize(digest, dest, executable)

    def repair(self, digest: str, copy: Path) -> bool:
        """Put a blob back from another copy of it (an output in wasmelt-out)
        once that copy is verified; False when it does not match."""
        try:
            got, _ = self.put_output(copy.parent, copy.name)
        except (OSError, OutputRefused):
            return False
        if got != digest:
            return False
        self.repaired.append(f"blob {digest} (from {copy.name})")
        return True

    # -- action cache -------------------------------------------------------

    def _ac_path(self, key: str) -> Path:
        return self.ac_dir / key[:2] / key[2:]

    def get_action(self, key: str, touch: bool = True) -> CachedResult | None:
        path = f"{self._ac}/{key[:2]}/{key[2:]}"
        try:
            with open(path, "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            return None
        if touch:  # the mtime of an entry is its last use, for `cache gc`
            with _suppress():
                os.utime(path)
        try:
            entry = json.loads(raw)
            body = entry["result"]
            if "key" not in entry:  # written before entries were bound to keys: a miss
                with _suppress():
                    os.unlink(path)
                return None
            if entry["key"] != key or entry["check"] != _entry_check(key, body):
                raise ValueError("checksum mismatch or entry of another key")
            outputs = dict(body["outputs"])
            if not all(isinstance(v, str) for v in (*outputs, *outputs.values(), body["stdout"], body["stderr"])):
                raise TypeError("malformed entry")
            result = CachedResult(outputs, body["stdout"], body["stderr"],
                                  frozenset(body.get("executable", ())) & frozenset(outputs))
        except (ValueError, KeyError, TypeError, AttributeError):
            self.corrupt_entries.append(f"action {key}")
            with _suppress():
                os.unlink(path)
            return None
        # An entry whose blobs are gone is a miss, not an error.
        if not all(self.has(d) for d in (*result.outputs.values(), result.stdout, result.stderr)):
            return None
        return result

    def put_action(self, key: str, result: CachedResult) -> None:
        body = {"outputs": result.outputs, "stdout": result.stdout, "stderr": result.stderr,
                "executable": sorted(result.executable)}
        entry = {"key": key, "result": body, "check": _entry_check(key, body)}
        _atomic_write(self._ac_path(key), json.dumps(entry, sort_keys=True).encode())

    # -- maintenance ----------------------------------------------------------

    def action_keys(self) -> list[str]:
        return sorted(p.parent.name + p.name for p in self.ac_dir.glob("*/*") if not p.name.startswith(".tmp-"))

    def blob_digests(self) -> list[str]:
        return sorted(p.parent.name + p.name for p in self.cas_dir.glob("*/*") if not p.name.startswith(".tmp-"))

    def verify(self) -> dict[str, int]:
        """Re-hash every blob and check every action entry; drop what is bad."""
        counts = {"blobs": 0, "bad_blobs": 0, "actions": 0, "bad_actions": 0, "incomplete_actions": 0}
        for digest in self.blob_digests():
            counts["blobs"] += 1
            if self.get_bytes(digest) is None:
                counts["bad_blobs"] += 1
        for key in self.action_keys():
            counts["actions"] += 1
            before = len(self.corrupt_entries)
            if self.get_action(key, touch=False) is None:
                if len(self.corrupt_entries) > before:
                    counts["bad_actions"] += 1
                else:  # its blobs are gone: useless, remove it
                    counts["incomplete_actions"] += 1
                    with _suppress():
                        self._ac_path(key).unlink()
        return counts

    def gc(self, max_bytes: int, tool_caches: tuple[Path, ...] = ()) -> dict[str, int]:
        """Evict least-recently-used action entries until the store, with the
        `tool_caches` (zig's), fits in max_bytes, then delete blobs no remaining
        entry refers to; a tool cache goes only when it alone is over the limit."""
        tool_bytes = 0
        for cache in tool_caches:
            size = tree_bytes(cache)
            if tool_bytes + size > max_bytes:
                shutil.rmtree(cache, ignore_errors=True)
            else:
                tool_bytes += size
        max_bytes -= tool_bytes
        entries = []
        for key in self.action_keys():
            path = self._ac_path(key)
            result = self.get_action(key, touch=False)
            if result is None:
                with _suppress():
                    path.unlink()
                continue
            blobs = {*result.outputs.values(), result.stdout, result.stderr}
            st = path.stat()
            entries.append((st.st_mtime_ns, key, blobs, disk_bytes(st)))
        entries.sort()
        sizes = {d: disk_bytes(self._blob_path(d).stat()) for d in self.blob_digests()}
        referenced: dict[str, int] = {}
        for _, _, blobs, _ in entries:
            for d in blobs:
                referenced[d] = referenced.get(d, 0) + 1
        total = sum(sizes[d] for d in referenced if d in sizes) + sum(e[3] for e in entries)
        evicted = 0
        for _, key, blobs, entry_bytes in entries:
            if total <= max_bytes:
                break
            with _suppress():
                self._ac_path(key).unlink()
            evicted += 1
            total -= entry_bytes
            for d in blobs:
                referenced[d] -= 1
                if referenced[d] == 0:
                    total -= sizes.get(d, 0)
        removed = 0
        for digest, size in sizes.items():
            if referenced.get(digest, 0) == 0:
                with _suppress():
                    self._blob_path(digest).unlink()
                removed += 1
        # The remote cache's SHA-256 shortcuts (engine.remote.request.DigestMap,
        # laid out as the CAS is) of blobs no longer kept; a source's is
        # computed again by the next remote build that needs it.
        digest_map = self.root / DIGEST_MAP_DIR
        for path in digest_map.glob("*/*") if digest_map.is_dir() else ():
            if referenced.get(path.parent.name + path.name, 0) == 0:
                with _suppress():
                    path.unlink()
        for shards in (self.cas_dir, self.ac_dir):  # the shard directories left empty
            for shard in shards.iterdir() if shards.is_dir() else ():
                with _suppress():
                    shard.rmdir()
        # Stale sandboxes of killed builds.
        sandbox_root = self.root / "sandbox"
        if sandbox_root.is_dir():
            for child in sandbox_root.iterdir():
                shutil.rmtree(child, ignore_errors=True)
        return {"evicted_actions": evicted, "removed_blobs": removed, "kept_actions": len(entries) - evicted,
                "bytes": max(total, 0) + tool_bytes}

    def size(self, tool_caches: tuple[Path, ...] = ()) -> int:
        """Bytes on disk of the blobs, the action entries and the tool caches (what gc
        measures against its limit)."""
        return tree_bytes(self.cas_dir) + tree_bytes(self.ac_dir) + sum(tree_bytes(c) for c in tool_caches)


def disk_bytes(st: os.stat_result) -> int:
    """What a file takes on disk (whole blocks, as `du` counts): the cache's limit is about the disk."""
    return max(st.st_blocks * 512, st.st_size if st.st_blocks == 0 and st.st_size else 0)


def tree_bytes(directory: Path) -> int:
    """Bytes on disk of the files under `directory` (0 when it does not exist)."""
    total = 0
    stack = [str(directory)]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                else:
                    total += disk_bytes(entry.stat(follow_symlinks=False))
            except OSError:
                pass
    return total


# What a cache directory holds, all of it wasmelt's: `clean --expunge` removes these.
OWNED = ("cas", "ac", "sandbox", "records", "zig", DIGEST_MAP_DIR, "size", "lock")


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
        _atomic_write(stamp, f"{known + added} {builds + 1}\n".encode())
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
    _atomic_write(stamp, f"{size} 0\n".encode())
    return counts


# -- output paths ------------------------------------------------------------------

def normalise_output(name: str) -> str:
    """An output's path inside its target's directory in canonical form
    (`./x` and `a//b` become `x` and `a/b`); ValueError for one that cannot be
    a plain file there."""
    if not isinstance(name, str) or not name or "\0" in name:
        raise ValueError(f"output {name!r} must be a non-empty path without NUL bytes")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if name.startswith("/") or ".." in parts:
        raise ValueError(f"output `{name}` must stay inside the target's output directory")
    if not parts or name.endswith("/"):
        raise ValueError(f"output `{name}` must name a file, not a directory")
    return "/".join(parts)


def output_collision(producers: dict) -> str | None:
    """The first pair of outputs where one is a directory of the other (a file
    `x` of one target and `x/y` of another), as an error message; or None."""
    for path in sorted(producers):
        parts = path.split("/")
        for i in range(1, len(parts)):
            parent = "/".join(parts[:i])
            if parent in producers:
                return (f"output `{path}` of {producers[path].owner} lies inside `{parent}`, a file that "
                        f"{producers[parent].owner} produces; rename one of them")
    return None


# -- the disk failing under the store ------------------------------------------------

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
