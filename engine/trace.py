"""The build trace: one versioned, append-only log per workspace of what builds
saw and did, replayed on load and recompacted when mostly redundant.

Format (`<records>/trace`): the line `wasmelt trace v1`, then marshalled
records, each a (kind, payload) tuple; a later record overrides an earlier one:

    ("sources", {path: [size, mtime_ns, inode, digest, hashed_at_ns]})
        the content digest of a file, valid while its stat is unchanged;
    ("actions", {action id: {owner, mnemonic, status, reason, key, material,
                 previous, outputs, logs, duration, error}})
        the last decision about each action, its key material, the material
        of its previous different key (what `explain` compares) and the
        digests of its outputs and logs (reused while the material holds);
    ("build_files", {BUILD.toml path: (size, mtime_ns, inode, parsed table)})
        TOML parsing is most of loading a package: validating is always redone;
    ("build", [action ids])      the actions of the last build;
    ("up_to_date", None)         the last build found nothing changed.

A record cut short by a killed build ends the replay; what was before it holds.
Import-light: the null-build path appends its one record through it.
"""

from __future__ import annotations

import marshal
import os
import time

NAME = "trace"
SIGNATURE = b"wasmelt trace v1\n"
# A file modified within this long of when it was hashed is "racily clean": a
# later edit could keep its size and mtime, so it is hashed again next time.
RACY_WINDOW_NS = 2_000_000_000
COMPACT_RATIO = 3  # rewrite when the log is this many times the size of what it holds


_UP_TO_DATE = marshal.dumps(("up_to_date", None))


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
    _append(path, [("up_to_date", None)])


def _append(path: str, records: list) -> int:
    data = b"".join(marshal.dumps(r) for r in records)
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT
    fd = os.open(path, flags, 0o644)
    try:
        if os.fstat(fd).st_size == 0:
            data = SIGNATURE + data
        os.write(fd, data)
        return os.fstat(fd).st_size
    finally:
        os.close(fd)


class Trace:
    def __init__(self, records_dir):
        self.path = os.path.join(str(records_dir), NAME)
        self.sources: dict[str, list] = {}
        self.build_files: dict[str, tuple] = {}
        self._dirty_build_files: dict[str, tuple] = {}
        self.actions: dict[str, dict] = {}
        self.last_build: list[str] = []
        self.up_to_date = False
        self._dirty_sources: dict[str, list] = {}
        self._dirty_actions: dict[str, dict] = {}
        self._size = 0  # bytes in the log
        self._base = 0  # bytes of its first snapshot (sources, actions, build)
        self._build_changed = False
        self.hashed = 0  # files read this process
        self._load()

    def _load(self) -> None:
        try:
            with open(self.path, "rb") as f:
                if f.read(len(SIGNATURE)) != SIGNATURE:
                    return  # another version's trace: start a new one
                while True:
                    try:
                        kind, payload = marshal.load(f)
                    except (EOFError, ValueError, TypeError):
                        break
                    if kind == "sources":
                        self.sources.update(payload)
                    elif kind == "actions":
                        self.actions.update(payload)
                    elif kind == "build_files":
                        self.build_files.update(payload)
                    elif kind == "build":
                        self.last_build, self.up_to_date = payload, False
                        self._base = self._base or f.tell()
                    elif kind == "up_to_date":
                        self.up_to_date = True
                self._size = f.tell()
        except OSError:
            pass

    # -- sources ----------------------------------------------------------------

    def digest(self, path: str, st: os.stat_result | None = None) -> str:
        """The content digest of `path` (`st`: its stat, if the caller has it)."""
        from .store import digest_file

        st = st or os.stat(path)
        entry = self.sources.get(path)
        if (entry and entry[0] == st.st_size and entry[1] == st.st_mtime_ns and entry[2] == st.st_ino
                and st.st_mtime_ns + RACY_WINDOW_NS < entry[4]):
            return entry[3]
        hashed_at = time.time_ns()
        digest = digest_file(path)
        self.hashed += 1
        entry = [st.st_size, st.st_mtime_ns, st.st_ino, digest, hashed_at]
        self.sources[path] = self._dirty_sources[path] = entry
        return digest

    # -- parsed BUILD.toml files (the loader's `parsed`) ---------------------------

    def get(self, where: str, st: os.stat_result):
        entry = self.build_files.get(where)
        if entry is not None and entry[:3] == (st.st_size, st.st_mtime_ns, st.st_ino):
            return entry[3]
        return None

    def put(self, where: str, st: os.stat_result, data: dict) -> None:
        if st.st_mtime_ns + RACY_WINDOW_NS >= time.time_ns():
            return  # could change again within the timestamp granularity, unseen
        try:
            marshal.dumps(data)  # TOML dates and times are not marshal types: those stay unkept
        except ValueError:
            return
        self.build_files[where] = self._dirty_build_files[where] = (st.st_size, st.st_mtime_ns, st.st_ino, data)

    # -- actions ----------------------------------------------------------------

    def record(self, rec, status: str | None = None, reason: str | None = None) -> None:
        """What was decided about one action (`status`/`reason` override the record's)."""
        old = self.actions.get(rec.action.id)
        previous = old.get("previous") if old else None
        material = rec.material if rec.material is not None else (old or {}).get("material")
        key = rec.key if rec.key is not None else (old or {}).get("key")
        if old is not None and old.get("key") is not None and old.get("key") != key:
            previous = old.get("material")
        outputs, logs = rec.outputs, rec.log_digests
        entry = {"owner": str(rec.action.owner), "mnemonic": rec.action.mnemonic, "status": status or rec.status,
                 "reason": reason or rec.reason, "key": key, "material": material, "previous": previous,
                 "outputs": outputs, "logs": logs, "executable": sorted(rec.executable),
                 "duration": round(rec.duration, 4) if status is None else 0.0,
                 "error": rec.error if status is None else None}
        if entry != old:
            self.actions[rec.action.id] = self._dirty_actions[rec.action.id] = entry

    def record_build(self, records: dict, ran: dict | None = None, reused_reason: str = "") -> None:
        """The build's records (by action id); with `ran`, only those were
        examined and every other action was reused for `reused_reason`."""
        for action_id, rec in records.items():
            if ran is None or action_id in ran:
                self.record(rec)
                continue
            old = self.actions.get(action_id)
            if old is None or old["status"] != "cached" or old["reason"] != reused_reason:
                self.record(rec, "cached", reused_reason)
        if self.up_to_date or list(records) != self.last_build:
            self.last_build = list(records)
            self.up_to_date = False
            self._build_changed = True

    def save(self) -> None:
        """Append what changed; rewrite the log when it is mostly redundant."""
        records = []
        if self._dirty_sources:
            records.append(("sources", self._dirty_sources))
        if self._dirty_actions:
            records.append(("actions", self._dirty_actions))
        if self._dirty_build_files:
            records.append(("build_files", self._dirty_build_files))
        if self._build_changed:
            records.append(("build", self.last_build))
        if not records:
            return
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        self._size = _append(self.path, records)
        self._base = self._base or self._size
        self._dirty_sources, self._dirty_actions, self._dirty_build_files = {}, {}, {}
        self._build_changed = False
        if self._size > COMPACT_RATIO * self._base + (1 << 16):
            from pathlib import Path

            from .store import _atomic_write

            snapshot = self._snapshot()
            _atomic_write(Path(self.path), snapshot)
            self._size = self._base = len(snapshot)

    def _snapshot(self) -> bytes:
        records = [("sources", self.sources), ("actions", self.actions), ("build_files", self.build_files),
                   ("build", self.last_build)]
        if self.up_to_date:
            records.append(("up_to_date", None))
        return SIGNATURE + b"".join(marshal.dumps(r) for r in records)
