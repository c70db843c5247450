"""The content-addressed blob store (CAS): blobs written atomically under their
digest and verified on read, outputs taken only as regular files and streamed;
and the file helpers the store is made of."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from pathlib import Path

import xxhash

from .actions import digest_bytes


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


def _copy_hashing(src, fd: int, executable: bool) -> str:
    """Copy `src` into the open file `fd` (closed after), mode 755 or 644 whatever the
    umask; the digest of what was copied."""
    h = xxhash.xxh3_128()
    with os.fdopen(fd, "wb") as dst:
        os.fchmod(dst.fileno(), 0o755 if executable else 0o644)
        for chunk in iter(lambda: src.read(CHUNK), b""):
            h.update(chunk)
            dst.write(chunk)
    return h.hexdigest()


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


class Blobs:
    """The CAS under `<cache>/cas`: blob `d` at `cas/d[:2]/d[2:]`."""

    def __init__(self, cache_dir: Path):
        self.root = cache_dir
        self.cas_dir = cache_dir / "cas"
        self._cas = str(self.cas_dir)
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
            with src:
                copied = _copy_hashing(src, fd, executable)
            if copied != digest:
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
        """An action's generated input at dest, a new path in its fresh sandbox
        (written in place: nothing else sees it before the action runs): from
        the verified blob, or, when the blob is damaged or gone, from `copy`
        (its output in wasmelt-out) once that is verified too, repairing the
        blob. The executable bit is the one the output was given."""
        try:
            executable = bool(os.lstat(copy).st_mode & 0o100)
        except OSError:
            executable = False
        if self._stage_blob(digest, dest, executable):
            return True
        return self.repair(digest, copy) and self._stage_blob(digest, dest, executable)

    def _stage_blob(self, digest: str, dest: Path, executable: bool) -> bool:
        """The verified blob written to the new path `dest`; False (dest
        removed) when the blob is missing or damaged (then deleted and reported)."""
        path = f"{self._cas}/{digest[:2]}/{digest[2:]}"
        try:
            src = open(path, "rb")
        except FileNotFoundError:
            return False
        with src:
            copied = _copy_hashing(src, os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC), executable)
        if copied != digest:
            self.corrupt_entries.append(f"blob {digest}")
            with _suppress():
                os.unlink(path)
            os.unlink(dest)
            return False
        return True

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

    def blob_digests(self) -> list[str]:
        return sorted(p.parent.name + p.name for p in self.cas_dir.glob("*/*") if not p.name.startswith(".tmp-"))
