"""What a build prints while it runs: plain lines (logs, CI, pipes) or a live
status block on a terminal (done/total, cache hits, what is running now)."""

from __future__ import annotations

import shutil
import sys
import threading
import time

from .actions import Action
from .executor import CACHED, EXECUTED, FAILED, SKIPPED, ActionRecord, BuildReport, Reporter


class PlainReporter(Reporter):
    """One line per executed or failed action; cached ones are counted."""

    def __init__(self, out=None, verbose: bool = False, quiet: bool = False):
        self.out = out or sys.stderr
        self.verbose, self.quiet = verbose, quiet
        self.reported_elsewhere: set[str] = set()  # action ids whose failure the caller prints itself

    def action_finished(self, record: ActionRecord, done: int, total: int) -> None:
        if record.status == FAILED and record.action.id in self.reported_elsewhere:
            return
        if record.status == FAILED:
            print(f"ERROR: {record.error}", file=self.out, flush=True)
            return
        if self.quiet or record.status == SKIPPED or (record.status == CACHED and not self.verbose):
            return
        timing = f" {record.finished - record.started:.2f}s" if record.status == EXECUTED else (
            " (remote cache)" if record.remote else " (cached)")
        print(f"[{done}/{total}] {record.action.describe()}{timing}", file=self.out, flush=True)
        if self.verbose and record.status == EXECUTED:
            for stream in (record.stdout, record.stderr):
                text = stream.decode("utf-8", "replace").rstrip()
                if text:
                    print("    " + text.replace("\n", "\n    "), file=self.out, flush=True)
        elif record.status == EXECUTED:  # a tool's warnings are shown without -v
            for line in record.stderr.decode("utf-8", "replace").splitlines():
                if line.startswith("warning: "):
                    print(f"WARNING: {record.action.describe()}: {line.removeprefix('warning: ')}", file=self.out,
                          flush=True)


class TerminalReporter(PlainReporter):
    """Plain lines scroll above a live block redrawn in place:
    `[done/total] 3 executed, 9 cached` and one line per running action."""

    REFRESH_SECONDS = 0.1

    def __init__(self, out=None, verbose: bool = False, quiet: bool = False):
        super().__init__(out, verbose, quiet)
        self.running: dict[str, tuple[Action, float]] = {}
        self.done = self.total = self.executed = self.cached = 0
        self.drawn_lines = 0
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.ticker: threading.Thread | None = None

    def _clear(self) -> None:
        if self.drawn_lines:
            self.out.write(f"\x1b[{self.drawn_lines}F\x1b[J")
            self.drawn_lines = 0

    def _draw(self) -> None:
        width = shutil.get_terminal_size((100, 20)).columns
        now = time.monotonic()
        bar_width = 20
        filled = int(bar_width * self.done / self.total) if self.total else bar_width
        lines = [f"[{'#' * filled}{'.' * (bar_width - filled)}] {self.done}/{self.total} actions, "
                 f"{self.executed} executed, {self.cached} cached"]
        for action, started in sorted(self.running.values(), key=lambda x: x[1])[:8]:
            lines.append(f"    {action.describe()} {now - started:.1f}s")
        self.out.write("\n".join(line[: width - 1] for line in lines) + "\n")
        self.out.flush()
        self.drawn_lines = len(lines)

    def _tick(self) -> None:
        while not self.stop.wait(self.REFRESH_SECONDS):
            with self.lock:
                self._clear()
                self._draw()

    def build_started(self, total: int) -> None:
        self.total = total
        self.ticker = threading.Thread(target=self._tick, daemon=True)
        self.ticker.start()

    def action_started(self, action: Action, lane: int) -> None:
        with self.lock:
            self.running[action.id] = (action, time.monotonic())

    def action_finished(self, record: ActionRecord, done: int, total: int) -> None:
        with self.lock:
            self.running.pop(record.action.id, None)
            self.done = done
            self.executed += record.status == EXECUTED
            self.cached += record.status == CACHED
            self._clear()
            super().action_finished(record, done, total)
            self._draw()

    def build_finished(self, report: BuildReport) -> None:
        self.stop.set()
        if self.ticker:
            self.ticker.join()
        with self.lock:
            self._clear()
            self.out.flush()


def make_reporter(mode: str, verbose: bool, quiet: bool, out=None) -> Reporter:
    out = out or sys.stderr
    if mode == "tty" or (mode == "auto" and out.isatty() and not quiet):
        return TerminalReporter(out, verbose, quiet)
    return PlainReporter(out, verbose, quiet)
