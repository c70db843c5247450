"""The only printer of wasmelt: progress while a build runs (plain lines or a
live terminal block), the summary line, up-to-date targets, errors, test results and JUnit.

Import-light at the top: the null-build path prints through it before the engine is loaded."""

from __future__ import annotations

import os
import sys
import time

RED, GREEN, YELLOW = "31", "32", "33"
_color = {"mode": "auto"}  # --color of the command running: set once per command by wasmelt.main


def set_color(mode: str) -> None:
    """--color=auto|yes|no for what this process prints from now on."""
    _color["mode"] = mode


def colored(out) -> bool:
    """Whether text written to `out` is coloured: --color=yes, or auto on a terminal without NO_COLOR."""
    mode = _color["mode"]
    if mode in ("yes", "no"):
        return mode == "yes"
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    try:
        return out.isatty()
    except (AttributeError, ValueError):
        return False


def paint(text: str, color: str, out) -> str:
    return f"\x1b[1;{color}m{text}\x1b[0m" if colored(out) else text


def error(message: str, out=None) -> None:
    out = out or sys.stderr
    print(f"{paint('ERROR:', RED, out)} {message}", file=out, flush=True)


def warning(message: str, out=None) -> None:
    out = out or sys.stderr
    print(f"{paint('WARNING:', YELLOW, out)} {message}", file=out, flush=True)


def note(message: str, out=None) -> None:
    print(message, file=out or sys.stderr, flush=True)


def targets(labels: list[tuple[str, list[str]]], out=None) -> None:
    """`Target //x:y up-to-date:` with its files, for each named target (at most 10)."""
    for label, files in labels:
        print(f"Target {label} up-to-date:" + "".join(f"\n  {f}" for f in files), file=out or sys.stderr)


def partial(built: set[str] | list[str], not_built: list[str], out=None) -> None:
    """After a failed build with --keep_going: which of the named targets did build."""
    out = out or sys.stderr
    total = len(built) + len(not_built)
    shown = ", ".join(sorted(built)[:10]) + (f" and {len(built) - 10} more" if len(built) > 10 else "")
    missing = ", ".join(not_built[:10]) + (f" and {len(not_built) - 10} more" if len(not_built) > 10 else "")
    print(f"{len(built)} of {total} targets built" + (f": {shown}" if built else "")
          + (f"; not built: {paint(missing, RED, out)}" if not_built else ""), file=out, flush=True)


def summary_line(verb: str, ok: bool, total: int, counts: dict[str, int], started: float, tail: str = "",
                 out=None) -> str:
    parts = [f"{counts.get('executed', 0)} executed", f"{counts.get('cached', 0)} cached"]
    parts += [f"{counts[s]} {s}" for s in ("failed", "skipped") if counts.get(s)]
    s = "s" if total != 1 else ""
    head = paint(f"{verb} {'completed' if ok else 'FAILED'}:", GREEN if ok else RED, out or sys.stderr)
    return (f"{head} {total} action{s}: " + ", ".join(parts) + f" in {time.monotonic() - started:.2f}s" + tail)


def summary(report, started: float, verb: str = "Build", out=None) -> None:
    """The last line of every build (tests/conftest.py parses it)."""
    for entry in report.corrupt_entries:
        warning(f"damaged cache entry discarded: {entry}", out)
    counts = {s: report.count(s) for s in ("executed", "cached", "failed", "skipped")}
    out = out or sys.stderr
    print(summary_line(verb, report.ok, len(report.records), counts, started, out=out), file=out, flush=True)


def up_to_date(actions: int, labels: list[tuple[str, list[str]]], quiet: bool, started: float, out=None) -> int:
    """What a build that found nothing to do prints."""
    if not quiet:
        targets(labels, out)
    out = out or sys.stderr
    print(summary_line("Build", True, actions, {"cached": actions}, started, " (nothing changed since the last build)",
                       out=out), file=out, flush=True)
    return 0


def test_result(label, passed: bool, cached: bool, seconds: float, log: str, show_log: bool) -> None:
    note_ = " (cached)" if cached else f" in {seconds:.2f}s" if passed else ""
    verdict = paint("PASSED" if passed else "FAILED", GREEN if passed else RED, sys.stdout)
    print(f"{verdict}: {label}{note_}")
    if show_log:
        print("    " + log.rstrip().replace("\n", "\n    "))


def test_totals(passed: int, failed: int) -> None:
    print(f"{passed} passed, {failed} failed")


def junit(path, results) -> None:
    """A JUnit XML file: results are (label, passed, seconds, log)."""
    from xml.sax.saxutils import escape

    failures = sum(1 for r in results if not r[1])
    lines = ['<?xml version="1.0" encoding="UTF-8"?>',
             f'<testsuites tests="{len(results)}" failures="{failures}">',
             f'  <testsuite name="wasmelt" tests="{len(results)}" failures="{failures}">']
    for label, passed, seconds, log in results:
        lines.append(f'    <testcase name="{escape(str(label))}" classname="{escape(label.package or "root")}" time="{seconds:.3f}">')
        if not passed:
            lines.append(f'      <failure message="test failed">{escape(log)}</failure>')
        else:
            lines.append(f"      <system-out>{escape(log)}</system-out>")
        lines.append("    </testcase>")
    lines += ["  </testsuite>", "</testsuites>"]
    path.write_text("\n".join(lines) + "\n")


# -- progress while a build runs ---------------------------------------------------

from wasmelt.engine.reporter import CACHED, EXECUTED, FAILED, SKIPPED, Reporter  # noqa: E402


class PlainReporter(Reporter):  # noqa: E302
    """One line per executed or failed action; cached ones are counted."""

    def __init__(self, out=None, verbose: bool = False, quiet: bool = False):
        self.out = out or sys.stderr
        self.verbose, self.quiet = verbose, quiet
        self.reported_elsewhere: set[str] = set()  # action ids whose failure the caller prints itself

    def actions_reused(self, records, total: int) -> None:
        if self.verbose and not self.quiet:  # else nothing is printed for a cached action
            super().actions_reused(records, total)

    def action_finished(self, record, done: int, total: int) -> None:
        if record.status == FAILED and record.action.id in self.reported_elsewhere:
            return
        if record.status == FAILED:
            error(record.error, self.out)
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
                    warning(f"{record.action.describe()}: {line.removeprefix('warning: ')}", self.out)


class TerminalReporter(PlainReporter):
    """Plain lines scroll above a live block redrawn in place:
    `[done/total] 3 executed, 9 cached` and one line per running action."""

    REFRESH_SECONDS = 0.1

    def __init__(self, out=None, verbose: bool = False, quiet: bool = False):
        super().__init__(out, verbose, quiet)
        self.running: dict = {}  # action id -> (action, started)
        self.done = self.total = self.executed = self.cached = 0
        self.drawn_lines = 0
        import threading

        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.ticker = None

    def _clear(self) -> None:
        if self.drawn_lines:
            self.out.write(f"\x1b[{self.drawn_lines}F\x1b[J")
            self.drawn_lines = 0

    def _draw(self) -> None:
        import shutil

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
        import threading

        self.ticker = threading.Thread(target=self._tick, daemon=True)
        self.ticker.start()

    def action_started(self, action, lane: int) -> None:
        with self.lock:
            self.running[action.id] = (action, time.monotonic())

    def actions_reused(self, records, total: int) -> None:
        if self.verbose and not self.quiet:
            super().actions_reused(records, total)
            return
        with self.lock:
            self.done += len(records)
            self.cached += len(records)

    def action_finished(self, record, done: int, total: int) -> None:
        with self.lock:
            self.running.pop(record.action.id, None)
            self.done = done
            self.executed += record.status == EXECUTED
            self.cached += record.status == CACHED
            self._clear()
            super().action_finished(record, done, total)
            self._draw()

    def build_finished(self, report) -> None:
        self.stop.set()
        if self.ticker:
            self.ticker.join()
        with self.lock:
            self._clear()
            self.out.flush()


def make_reporter(mode: str, verbose: bool, quiet: bool, out=None):
    out = out or sys.stderr
    if mode == "tty" or (mode == "auto" and out.isatty() and not quiet):
        return TerminalReporter(out, verbose, quiet)
    return PlainReporter(out, verbose, quiet)
