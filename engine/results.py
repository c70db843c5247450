"""What a build produced: one ActionRecord per action, the BuildReport, the
status names, and the Reporter protocol that progress printers and logs implement."""

from __future__ import annotations

from dataclasses import dataclass, field

EXECUTED, CACHED, FAILED, SKIPPED = "executed", "cached", "failed", "skipped"


@dataclass
class ActionRecord:
    action: Action
    status: str
    key: str | None = None
    material: dict | None = None
    duration: float = 0.0
    error: str | None = None
    stdout: bytes = b""
    stderr: bytes = b""
    outputs: dict[str, str] = field(default_factory=dict)  # path -> digest
    executable: frozenset[str] = frozenset()  # outputs with the executable bit
    log_digests: tuple[str, str] | None = None  # stdout, stderr blobs in the store
    remote: bool = False  # the result came from (or ran on) the remote backend
    started: float = 0.0  # time.monotonic() when scheduled
    finished: float = 0.0
    lane: int = -1  # which of the --jobs workers ran it
    reason: str = ""  # why it ran or was reused (engine.rebuild)


@dataclass
class BuildReport:
    records: dict[str, ActionRecord] = field(default_factory=dict)  # by action id
    digests: dict[str, str] = field(default_factory=dict)  # artifact path -> digest
    corrupt_entries: list[str] = field(default_factory=list)  # damaged cache entries found

    def count(self, status: str) -> int:
        return sum(1 for r in self.records.values() if r.status == status)

    @property
    def ok(self) -> bool:
        return not any(r.status in (FAILED, SKIPPED) for r in self.records.values())

    def summary(self) -> str:
        parts = [f"{self.count(EXECUTED)} executed", f"{self.count(CACHED)} cached"]
        parts += [f"{self.count(s)} {s}" for s in (FAILED, SKIPPED) if self.count(s)]
        n = len(self.records)
        return f"{n} action{'s' if n != 1 else ''}: " + ", ".join(parts)


class Reporter:
    """Receives progress events (on the scheduling thread); the CLI prints
    them, the event log and the profile record them."""

    def build_started(self, total: int) -> None: ...
    def action_started(self, action: Action, lane: int) -> None: ...
    def action_finished(self, record: ActionRecord, done: int, total: int) -> None: ...
    def build_finished(self, report: "BuildReport") -> None: ...


class Reporters(Reporter):
    def __init__(self, *reporters: Reporter):
        self.reporters = [r for r in reporters if r is not None]

    def build_started(self, total):
        for r in self.reporters:
            r.build_started(total)

    def action_started(self, action, lane):
        for r in self.reporters:
            r.action_started(action, lane)

    def action_finished(self, record, done, total):
        for r in self.reporters:
            r.action_finished(record, done, total)

    def build_finished(self, report):
        for r in self.reporters:
            r.build_finished(report)


