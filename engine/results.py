"""What a build produced: one ActionRecord per action (made on demand for the
actions it reused unexamined), the BuildReport, the status names, and the
Reporter protocol that progress printers and logs implement."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, MutableMapping, Sequence
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


class Records(MutableMapping):
    """Every needed action's record by id, dependencies first: those this build
    decided (`decided`), and those it reused unexamined (`reused`, an
    engine.rebuild.Untouched), each of which is made (`make`) when first asked
    for, so a build that reuses most of the graph makes few records."""

    def __init__(self, order: Sequence[str] = (), reused: Collection[str] = (),
                 make: Callable[[str], ActionRecord] | None = None):
        self.decided: dict[str, ActionRecord] = {}
        self.order, self.reused = order, reused
        self._make, self._made = make, {}

    def __getitem__(self, action_id: str) -> ActionRecord:
        record = self.decided.get(action_id) or self._made.get(action_id)
        if record is None:
            if action_id not in self.reused:
                raise KeyError(action_id)
            record = self._made[action_id] = self._make(action_id)
        return record

    def __setitem__(self, action_id: str, record: ActionRecord) -> None:
        self.decided[action_id] = record

    def __delitem__(self, action_id: str) -> None:
        del self.decided[action_id]

    def __contains__(self, action_id) -> bool:
        return action_id in self.decided or action_id in self.reused

    def __iter__(self):
        return iter(self.order)

    def __len__(self) -> int:
        return len(self.order)

    def reused_records(self) -> "_Reused":
        return _Reused(self)


class _Reused:
    """The records of the reused actions, made as they are iterated."""

    def __init__(self, records: Records):
        self.records = records

    def __iter__(self):
        return map(self.records.__getitem__, self.records.reused)

    def __len__(self) -> int:
        return len(self.records.reused)


class Digests(MutableMapping):
    """Artifact path -> digest: the outputs of the actions a build decided, and
    (looked up when asked) those of the actions it reused."""

    def __init__(self, records: Records, producer: Mapping[str, Action]):
        self.known: dict[str, str] = {}
        self.records, self.producer = records, producer

    def __getitem__(self, path: str) -> str:
        digest = self.known.get(path)
        if digest is None:
            action = self.producer.get(path)
            if action is None or action.id not in self.records.reused:
                raise KeyError(path)
            digest = self.records[action.id].outputs.get(path)
            if digest is None:
                if path not in action.optional_outputs:
                    raise KeyError(path)
                digest = ""  # an optional output not written
            self.known[path] = digest
        return digest

    def __setitem__(self, path: str, digest: str) -> None:
        self.known[path] = digest

    def __delitem__(self, path: str) -> None:
        del self.known[path]

    def __iter__(self):
        seen = set(self.known)
        yield from self.known
        for record in self.records.reused_records():
            for out in record.action.outputs:
                if out.path not in seen and (out.path in record.outputs or out.path in record.action.optional_outputs):
                    seen.add(out.path)
                    yield out.path

    def __len__(self) -> int:
        return sum(1 for _ in self)


class BuildReport:
    """A build's result: `records` of every action it needed (see Records),
    `digests` of their outputs, the damaged cache entries it found."""

    def __init__(self, order: Sequence[str] = (), reused: Collection[str] = (),
                 make: Callable[[str], ActionRecord] | None = None, producer: Mapping[str, Action] | None = None):
        self.records = Records(order, reused, make)
        self.digests = Digests(self.records, producer or {})
        self.corrupt_entries: list[str] = []

    def count(self, status: str) -> int:
        n = sum(1 for r in self.records.decided.values() if r.status == status)
        return n + len(self.records.reused) if status == CACHED else n

    @property
    def ok(self) -> bool:
        return not any(r.status in (FAILED, SKIPPED) for r in self.records.decided.values())

    def summary(self) -> str:
        parts = [f"{self.count(EXECUTED)} executed", f"{self.count(CACHED)} cached"]
        parts += [f"{self.count(s)} {s}" for s in (FAILED, SKIPPED) if self.count(s)]
        n = len(self.records)
        return f"{n} action{'s' if n != 1 else ''}: " + ", ".join(parts)
