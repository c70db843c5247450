"""The status names and the Reporter protocol that progress printers and logs
implement; import-light (no dataclasses): the null build's printer subclasses it."""

from __future__ import annotations

EXECUTED, CACHED, FAILED, SKIPPED = "executed", "cached", "failed", "skipped"


class Reporter:
    """Receives progress events (on the scheduling thread); the CLI prints
    them, the event log and the profile record them."""

    def build_started(self, total: int) -> None: ...
    def action_started(self, action, lane: int) -> None: ...
    def action_finished(self, record, done: int, total: int) -> None: ...
    def build_finished(self, report) -> None: ...

    def actions_reused(self, records, total: int) -> None:
        """The actions reused unexamined (engine.rebuild.Untouched), finished as
        one set before any other; `records` (sized) makes each one's record as
        it is iterated. By default each is reported finished; a reporter with
        nothing to say about a cached action counts them instead."""
        for done, record in enumerate(records, 1):
            self.action_finished(record, done, total)


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

    def actions_reused(self, records, total):
        for r in self.reporters:
            r.actions_reused(records, total)

    def build_finished(self, report):
        for r in self.reporters:
            r.build_finished(report)


