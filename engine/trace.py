"""The build trace (engine.trace_log has its format): what builds saw and did,
loaded whole (file digests, parsed BUILD files, each action's last decision and
its reason, the last build), and appended to or rewritten once per command."""

from __future__ import annotations

import marshal
import os
import time

from .trace_log import (COMPACT_RATIO, KINDS, NAME, RACY_WINDOW_NS, SIGNATURE, _SUCCESS, _UP_TO_DATE,  # noqa: F401
                        _append, _frame, _frames, append_parsed, last_build, last_parsed, mark_up_to_date)


class Trace:
    def __init__(self, records_dir):
        self.path = os.path.join(str(records_dir), NAME)
        self.sources: dict[str, list] = {}
        self.build_files: dict[str, tuple] = {}
        self._dirty_build_files: dict[str, tuple] = {}
        self.actions: dict[str, dict] = {}
        self.failed: set[str] = set()  # ids whose last record is not a success (failed, skipped)
        self.build: dict = {"actions": [], "decided": None, "request": None, "inputs": None, "summary": None}
        self.up_to_date = False
        self._dirty_sources: dict[str, list] = {}
        self._dirty_actions: dict[str, dict] = {}
        self._size = 0  # bytes in the log
        self._base = 0  # bytes of its first snapshot (sources, actions, build)
        self._build_changed = False
        self.hashed = 0  # files read this process
        self._load()

    @property
    def last_build(self) -> list[str]:
        """The ids of the last build's actions."""
        return self.build["actions"]

    def _load(self) -> None:
        try:
            with open(self.path, "rb") as f:
                data = f.read()
        except OSError:
            return
        if not data.startswith(SIGNATURE):
            self._size = self._base = -1  # another version's trace: the first save replaces it
            return
        end = len(SIGNATURE)
        for kind, start, end in _frames(data):
            try:
                payload = marshal.loads(data[start:end])
            except (EOFError, ValueError, TypeError):
                end = start
                break
            if kind == "sources":
                self.sources.update(payload)
            elif kind == "actions":
                self.actions.update(payload)
            elif kind == "build_files":
                self.build_files.update(payload)
            elif kind == "build":
                self.build, self.up_to_date = payload, False
                self._base = self._base or end
            elif kind == "up_to_date":
                self.up_to_date = True
        self._size = end
        self.failed = {i for i, e in self.actions.items() if e["status"] not in _SUCCESS}

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
        if (old is not None and status is None and rec.material is old["material"] and rec.status == old["status"]
                and rec.reason == old["reason"] and rec.outputs is old["outputs"]):
            return  # reused as the trace recorded it (engine.rebuild.untouched), again
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
            if entry["status"] in _SUCCESS:
                self.failed.discard(rec.action.id)
            else:
                self.failed.add(rec.action.id)

    def record_build(self, records, *, request: str | None = None, inputs: dict | None = None,
                     summary: list | None = None, racy: str | None = None) -> None:
        """The build's records (by action id; an engine.results.Records holds
        those it decided in `decided`: the others were reused unexamined, and
        their records stand). `request` and `inputs` (engine.session) let a
        later identical build be answered by a stat pass; None: it cannot be,
        and `racy` names the input too freshly modified to be recorded."""
        decided = getattr(records, "decided", records)
        for rec in decided.values():
            self.record(rec)
        actions = list(records)
        build = {"actions": actions, "decided": list(decided) if len(decided) < len(actions) else None,
                 "request": request, "inputs": inputs, "summary": summary}
        if racy is not None:
            build["racy"] = racy
        if self.up_to_date or build != self.build:
            self.build = build
            self.up_to_date = False
            self._build_changed = True

    def save(self) -> None:
        """Append what changed; rewrite the log when it is mostly redundant."""
        frames = []
        if self._dirty_sources:
            frames.append(_frame("sources", self._dirty_sources))
        if self._dirty_actions:
            frames.append(_frame("actions", self._dirty_actions))
        if self._dirty_build_files:
            frames.append(_frame("build_files", self._dirty_build_files))
        if self._build_changed:
            frames.append(_frame("build", self.build))
        if not frames:
            return
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        if self._size < 0:
            try:
                os.unlink(self.path)
            except OSError:
                pass
            self._base = 0
        self._size = _append(self.path, frames)
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
        frames = [_frame("sources", self.sources), _frame("actions", self.actions),
                  _frame("build_files", self.build_files), _frame("build", self.build)]
        if self.up_to_date:
            frames.append(_UP_TO_DATE)
        return SIGNATURE + b"".join(frames)
