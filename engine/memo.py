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
        self.last = None  # the last successful plain build's engine.session.Plan
        self.tool_stats: dict = {}  # the stat of its tools (outside what the watcher sees)
        self.anchored = False  # the watcher has run without a gap since `last` read its inputs
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
        last = self.last
        if last is None or not self.anchored or not self.synced or last.request != request:
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

    def last_record(self, trace_stat) -> tuple[dict, bool] | None:
        """The trace's last build record and whether it was answered as a whole,
        from memory, when `trace_stat` shows nobody wrote the trace since (None: read it)."""
        if self.trace is None or trace_stat is None or trace_stat != self._trace_stat:
            return None
        return self.trace.build, self.trace.up_to_date

    def answered(self, before) -> None:
        """The whole build was reused (rebuild.null_build appended its record):
        the trace kept in memory says so too, unless another process wrote it first."""
        if self.trace is not None and before == self._trace_stat:
            self.trace.up_to_date = True
            self._trace_stat = rebuild.stat_of(self.trace.path)

    def plan_for(self, ws, request: str):
        """The last plan again, when every seed is a path its action graph places."""
        seeds = self.watched_seeds(request)
        last = self.last
        if seeds is None or last.ws != ws:
            return None
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
        seeds = self.watched_seeds(p.request)
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
            self.last, self.tool_stats = p, tool_stats
        elif self.last is p or (self.last is not None and self.last.request == p.request):
            self.last = None
            self.unanchor()
