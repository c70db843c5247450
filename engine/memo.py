"""What a long-lived process (the server) keeps between commands, in one object
passed to each command: loaded packages, analysis results, the trace, and the
last successful plain build with the paths its watcher saw change since."""

from __future__ import annotations

import os

from . import rebuild
from .analysis import AnalysisMemo
from .graph import PackageMemo
from .trace import Trace
from .workspace import BUILD_FILE, records_dir

MAX_PENDING = 20_000  # more changed paths than this: every action is decided by its key


class Memo:
    def __init__(self):
        self.packages = PackageMemo()
        self.analysis = AnalysisMemo()
        self.trace: Trace | None = None
        self._trace_stat = None  # the trace file as this process last wrote or read it
        self._record = None  # (trace stat, last build record, up to date) as last read from disk
        self.last = None  # the last successful plain build's engine.session.Plan
        self.request: str | None = None  # what the anchor vouches for: `last`'s, or a whole-build answer's
        self.tool_stats: dict = {}  # the stat of its tools (outside what the watcher sees)
        self.anchored = False  # the watcher has run without a gap since that request's inputs were seen
        self.pending: set[str] = set()  # paths changed since then
        self.synced = False  # the server synced the watcher for the current command
        self.seeded = False  # the current command's seeds came from the watcher
        self.consumed = False  # ... and were taken out of `pending` by a build that has not finished

    # -- the watcher's changed paths ---------------------------------------------

    def note(self, paths: set[str] | None) -> None:
        """Paths the watcher reported (None: it cannot say which)."""
        if not self.anchored:
            return
        if paths is None or len(self.pending) + len(paths) > MAX_PENDING:
            self.unanchor()
        else:
            self.pending |= paths

    def unanchor(self) -> None:
        self.anchored = False
        self.pending.clear()

    def watched_seeds(self, request: str) -> list[str] | None:
        """The watcher's seeds for a build asking `request`, or None (no
        anchored build of that request, or a tool outside the workspace changed)."""
        if not self.anchored or not self.synced or self.request != request:
            return None
        if any(rebuild.stat_of(path) != st for path, st in self.tool_stats.items()):
            return None
        return sorted(self.pending)

    # -- what session.plan and session.build ask ------------------------------------

    def trace_for(self, ws) -> Trace:
        """The trace kept in memory, unless another process wrote it since."""
        path = os.path.join(str(records_dir(ws)), "trace")
        if self.trace is None or self.trace.path != path or rebuild.stat_of(path) != self._trace_stat:
            self.trace = Trace(records_dir(ws))
            self._trace_stat = rebuild.stat_of(path)
        return self.trace

    def holds(self, trace_stat) -> bool:
        """Whether the trace in memory is the file, which has `trace_stat`
        (nobody else wrote it since this process last did or read it)."""
        return trace_stat is not None and self.trace is not None and trace_stat == self._trace_stat

    def last_record(self, records: str, trace_stat) -> tuple[dict | None, bool]:
        """The trace's last build record and whether it was answered as a whole:
        from memory while it holds the file, else read (and kept while the file stays so)."""
        if self.holds(trace_stat):
            return self.trace.build, self.trace.up_to_date
        if trace_stat is None or self._record is None or self._record[:2] != (records, trace_stat):
            from .trace import last_build

            self._record = (records, trace_stat, *last_build(records))
        return self._record[2], self._record[3]

    def answered(self, before) -> None:
        """The whole build was reused (rebuild.null_build appended its record):
        what is kept in memory says so too, unless another process wrote the trace first."""
        if self.trace is not None and before == self._trace_stat:
            self.trace.up_to_date = True
            self._trace_stat = rebuild.stat_of(self.trace.path)
        if self._record is not None and self._record[1] == before:
            records = self._record[0]
            self._record = (records, rebuild.stat_of(os.path.join(records, "trace")), self._record[2], True)

    def anchor(self, request: str, inputs: dict, root: str, own: bool, stamped=()) -> None:
        """A whole-build answer the stat pass verified with the watcher synced:
        the disk is as the record says, and watched from now on, so the next
        same request is answered from the watcher's seeds, checking only the
        stat of what lies outside the workspace (tools, PATH, wasmelt's code).
        A record another process wrote (not `own`) may postdate the last plan:
        that plan is not reused. `stamped`: paths the caller checks before every
        command itself (the server: its own code), left out here."""
        if not own:
            self.last = None
        prefix = root.rstrip(os.sep) + os.sep
        self.request, self.anchored = request, True
        self.pending.clear()
        stamped = set(stamped)
        self.tool_stats = {path: st for path, st in inputs.items()
                           if not path.startswith(prefix) and path not in stamped}

    def plan_for(self, ws, request: str):
        """The last plan again, when every seed is a path its action graph places."""
        seeds = self.watched_seeds(request)
        last = self.last
        if seeds is None or last is None or last.ws != ws or last.request != request:
            return None  # (anchored by a whole-build answer: no plan to reuse)
        examine = rebuild.examined(last.analysis.graph, seeds, str(ws.root))
        if examine is None:
            return None
        last.seeds, last.examine, last.trace = seeds, examine, self.trace_for(ws)
        self.pending = set()
        self.seeded = self.consumed = True
        return last

    def seeds_for(self, p) -> tuple[list[str] | None, set[str] | None]:
        """(seeds, actions they reach) for a plan made again: from the watcher
        when a BUILD.toml edit kept the action graph's shape (the actions whose
        analysis changed are seeds too), else from a stat pass over the trace."""
        last = self.last
        seeds = self.watched_seeds(p.request) if last is not None and last.request == p.request else None
        if seeds is None:
            build = p.trace.build
            if build.get("request") != p.request or build.get("inputs") is None:
                return None, None
            seeds = rebuild.stat_seeds(build["inputs"], str(p.ws.root))
            return seeds, rebuild.examined(p.analysis.graph, seeds, str(p.ws.root))
        self.pending = set()
        self.consumed = True
        old, new = self.last.analysis.graph, p.analysis.graph
        if [a.id for a in old.actions] != [a.id for a in new.actions]:
            return seeds, None
        changed = []
        for a in new.actions:
            before = old.by_id[a.id]
            if before is not a:
                if (before.inputs, before.outputs) != (a.inputs, a.outputs):
                    return seeds, None
                changed.append(a.id)
        rest = [s for s in seeds if os.path.basename(s) != BUILD_FILE]
        examine = rebuild.examined(new, rest, str(p.ws.root))
        if examine is None:
            return seeds, None
        self.seeded = True
        return seeds, examine | new.downstream(changed)

    def built(self, p, remembered: bool, tool_stats: dict) -> None:
        """After a build: a successful plain one is the next one's starting point."""
        self.consumed = False
        if p.trace is self.trace:
            self._trace_stat = rebuild.stat_of(p.trace.path)
        if remembered:
            self.last, self.request, self.tool_stats = p, p.request, tool_stats
        elif self.last is p or (self.last is not None and self.last.request == p.request):
            self.last = None
            self.unanchor()
