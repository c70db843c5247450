"""What a build produced: one ActionRecord per action, the BuildReport, the
status names, and the Reporter protocol that progress printers and logs implement."""

from __future__ import annotations

from dataclasses import dataclass, field

from .reporter import CACHED, EXECUTED, FAILED, SKIPPED, Reporter, Reporters  # noqa: F401  (re-exported)


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
