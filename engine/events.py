"""Machine-readable records of a build: the build event log (one JSON object
per line, schema in docs/build-events.md) and a Chrome trace-event profile
(opens in Perfetto or chrome://tracing) with the critical path marked."""

from __future__ import annotations

import json
import time
from pathlib import Path

from .action_graph import ActionGraph
from .actions import Action
from .results import CACHED, EXECUTED, FAILED, SKIPPED, ActionRecord, BuildReport, Reporter

EVENT_SCHEMA_VERSION = 1


class EventLog(Reporter):
    def __init__(self, path: Path, command: str, patterns: list[str]):
        self.file = open(path, "w", encoding="utf-8")
        self.t0 = time.monotonic()
        self._emit("build_started", command=command, patterns=patterns, schema=EVENT_SCHEMA_VERSION,
                   time_unix=round(time.time(), 3))

    def _emit(self, event_name: str, **fields) -> None:
        fields = {"event": event_name, "t": round(time.monotonic() - self.t0, 6), **fields}
        self.file.write(json.dumps(fields, sort_keys=True) + "\n")
        self.file.flush()

    def target_configured(self, label: str, kind: str, outputs: list[str]) -> None:
        self._emit("target_configured", label=label, kind=kind, outputs=outputs)

    def action_started(self, action: Action, lane: int) -> None:
        self._emit("action_started", id=action.id, label=str(action.owner), mnemonic=action.mnemonic, lane=lane)

    def action_finished(self, record: ActionRecord, done: int, total: int) -> None:
        self._emit("action_finished", id=record.action.id, label=str(record.action.owner),
                   mnemonic=record.action.mnemonic, status=record.status, reason=record.reason, key=record.key,
                   remote=record.remote, duration=round(max(0.0, record.finished - record.started), 6),
                   exit_code=0 if record.status in (EXECUTED, CACHED) else (None if record.status == SKIPPED else 1),
                   outputs=record.outputs, error=record.error)

    def test_result(self, label: str, passed: bool, cached: bool, duration: float) -> None:
        self._emit("test_result", label=label, passed=passed, cached=cached, duration=round(duration, 6))

    def build_finished(self, report: BuildReport) -> None:
        self._emit("build_finished", ok=report.ok, summary=report.summary(),
                   counts={s: report.count(s) for s in (EXECUTED, CACHED, FAILED, SKIPPED)})

    def close(self) -> None:
        self.file.close()


def critical_path(report: BuildReport) -> list[str]:
    """The chain of actions, each waiting on the one before, whose durations
    add up to the longest time: what bounds the build at any --jobs."""
    records = report.records
    upstream = ActionGraph([r.action for r in records.values()]).upstream
    best: dict[str, tuple[float, str | None]] = {}

    def cost(action_id: str) -> tuple[float, str | None]:
        if action_id in best:
            return best[action_id]
        rec = records[action_id]
        own = max(0.0, rec.finished - rec.started)
        ups = upstream[action_id]
        prev = max(ups, key=lambda u: cost(u)[0], default=None)
        best[action_id] = (own + (cost(prev)[0] if prev else 0.0), prev)
        return best[action_id]

    for action_id in sorted(records, key=lambda a: records[a].started):  # resolve shallow-first
        cost(action_id)
    if not best:
        return []
    node: str | None = max(best, key=lambda a: best[a][0])
    path = []
    while node:
        path.append(node)
        node = best[node][1]
    return path[::-1]


def write_profile(path: Path, report: BuildReport) -> None:
    started = [r.started for r in report.records.values() if r.started]
    t0 = min(started, default=0.0)
    critical = set(critical_path(report))
    events = [{"name": "process_name", "ph": "M", "pid": 1, "args": {"name": "wasmelt build"}}]
    lanes = sorted({r.lane for r in report.records.values() if r.lane >= 0})
    events += [{"name": "thread_name", "ph": "M", "pid": 1, "tid": lane, "args": {"name": f"worker {lane}"}}
               for lane in lanes]
    for rec in sorted(report.records.values(), key=lambda r: (r.started, r.action.id)):
        if rec.lane < 0:
            continue
        events.append({
            "name": rec.action.describe(), "cat": rec.status + (",critical_path" if rec.action.id in critical else ""),
            "ph": "X", "pid": 1, "tid": rec.lane, "ts": round((rec.started - t0) * 1e6, 1),
            "dur": round(max(0.0, rec.finished - rec.started) * 1e6, 1),
            "args": {"status": rec.status, "key": rec.key, "critical_path": rec.action.id in critical},
        })
    path.write_text(json.dumps({"traceEvents": events, "displayTimeUnit": "ms",
                                "otherData": {"critical_path": [report.records[a].action.describe() for a in critical_path(report)]}},
                               indent=None))
