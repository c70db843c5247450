"""The local store: the CAS (engine.blobs) and an action cache (action key ->
output digests), both written atomically and verified on read; an entry is
bound to its key. `cache gc` and `cache verify` work on both."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from .actions import digest_bytes
from .blobs import (CHUNK, Blobs, OutputRefused, _atomic_write, _suppress, digest_file, disk_bytes,  # noqa: F401
                    open_regular, tree_bytes)
from .os_errors import check_writable_file, explain_os_error  # noqa: F401
from .output_paths import normalise_output, output_collision  # noqa: F401


DIGEST_MAP_DIR = "sha256"  # xxHash -> SHA-256 of blobs sent to a remote cache


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


class Store(Blobs):
    """The CAS (engine.blobs) and the action cache under `<cache>/ac`."""

    def __init__(self, cache_dir: Path):
        super().__init__(cache_dir)
        self.ac_dir = cache_dir / "ac"
        self._ac = str(self.ac_dir)

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

    def action_keys(self) -> list[str]:
        return sorted(p.parent.name + p.name for p in self.ac_dir.glob("*/*") if not p.name.startswith(".tmp-"))

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


# What a cache directory holds, all of it wasmelt's: `clean --expunge` removes these.
OWNED = ("cas", "ac", "sandbox", "records", "zig", DIGEST_MAP_DIR, "size", "lock")
