"""One command's view of the workspace: load the requested targets, analyze
them into actions, and build the artifacts they need; the seeds of the one
rebuild decision come from a stat pass over the trace, or from the server."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from .analysis import AnalysisResult, analyze
from .executor import BuildReport, Executor, Reporter
from .graph import PackageLoader, TargetGraph, load_graph, resolve_patterns
from .labels import Label
from .locks import cache_lock
from . import rebuild
from .scheduler import schedule
from .sizes import remember_built
from .store import Store
from .trace import RACY_WINDOW_NS, Trace
from .workspace import Workspace, find_workspace, records_dir


@dataclass
class Plan:
    ws: Workspace
    labels: list[Label]  # what the patterns named
    graph: TargetGraph
    analysis: AnalysisResult
    loader: PackageLoader | None = None  # what was loaded (for the trace's build record)
    memo: "Memo | None" = None  # a long-lived process's (engine.memo)
    trace: Trace | None = None  # the build log, loaded once per command
    request: str | None = None  # engine.rebuild.request_of the command's package and patterns
    # What may have changed since the trace's last build (None: anything), and
    # the actions it reaches (None: every action is decided by its key material).
    seeds: list[str] | None = None
    examine: set[str] | None = field(default=None, repr=False)
    # What files() and the tools' paths last computed, with the analysis they
    # came from: the server builds the same plan again.
    _kept: dict = field(default_factory=dict, repr=False, compare=False)

    def files(self, labels: list[Label]) -> list:
        """The files the labels' targets provide."""
        kept = self._kept.get("files")
        if kept is None or kept[0] is not self.analysis or kept[1] != labels:
            infos = self.analysis.infos
            kept = self._kept["files"] = (self.analysis, list(labels), [f for l in labels for f in infos[l].files])
        return kept[2]

    def tool_paths(self) -> set[str]:
        """The paths of every tool the plan's actions run."""
        kept = self._kept.get("tools")
        if kept is None or kept[0] is not self.analysis:
            kept = self._kept["tools"] = (self.analysis, {t.path for a in self.analysis.all_actions for t in a.tools})
        return kept[1]


def open_workspace(cwd: Path | None = None) -> tuple[Workspace, str]:
    cwd = cwd or Path.cwd()
    ws = find_workspace(cwd)
    return ws, ws.package_of(cwd)


def plan(ws: Workspace, patterns: list[str], current_package: str = "", memo=None) -> Plan:
    request = rebuild.request_of(current_package, patterns)
    if memo is not None:
        kept = memo.plan_for(ws, request)
        if kept is not None:  # the server's last plan, and nothing its watcher saw needs a new one
            return kept
    trace = memo.trace_for(ws) if memo is not None else Trace(records_dir(ws))
    loader = PackageLoader(ws, trace, memo.packages if memo is not None else None)
    labels = resolve_patterns(loader, patterns, current_package)
    graph = load_graph(loader, labels)
    trace.save()
    p = Plan(ws, labels, graph, analyze(ws, graph, memo.analysis if memo is not None else None), loader, memo,
             trace, request)
    if memo is not None:
        p.seeds, p.examine = memo.seeds_for(p)
    else:
        p.seeds = _stat_seeds(trace, request, str(ws.root))
        p.examine = rebuild.examined(p.analysis.graph, p.seeds, str(ws.root))
    return p


def _stat_seeds(trace: Trace, request: str, root: str) -> list[str] | None:
    """A cold process's seeds: the stat pass over the last build's inputs, when it asked the same."""
    build = trace.build
    if build.get("request") != request or build.get("inputs") is None:
        return None
    return rebuild.stat_seeds(build["inputs"], root)


def build(p: Plan, wanted, *, jobs: int | None = None, keep_going: bool = False,
          reporter: Reporter | None = None, timeout: float | None = None, use_cache: bool = True,
          record: bool = True, remote=None, expected: dict[str, str] | None = None,
          named: list | None = None, uncached: frozenset[str] = frozenset()) -> BuildReport:
    """Build `wanted`. With `named` (the targets an up-to-date answer lists), a
    successful plain build records what it depended on for the next one's stat pass;
    `uncached` actions run even when a result is cached (--nocache_test_results)."""
    remember = (named is not None and record and use_cache and not uncached and remote is None and expected is None
                and p.loader is not None)
    tool_stats = _tool_stats(p) if remember else {}
    store = Store(p.ws.cache_dir)
    trace = p.trace or Trace(records_dir(p.ws))
    executor = Executor(p.ws, store, trace, timeout=timeout, use_cache=use_cache, remote=remote,
                        expected=expected, uncached=uncached)
    # Actions no seed reaches reuse their last record unexamined: not for a build
    # that must rerun some whatever their keys say.
    examine = p.examine if use_cache and not uncached and expected is None and remote is None else None
    with cache_lock(p.ws.cache_dir, exclusive=False):
        report = schedule(executor, wanted, p.analysis.graph, jobs=jobs or os.cpu_count() or 1,
                          keep_going=keep_going, reporter=reporter, examine=examine)
    report.corrupt_entries = list(store.corrupt_entries)
    if record:
        answerable = remember and report.ok  # the next build of this request may be answered as a whole
        # The stat pass is for a cold process; the server's watcher gives its own
        # seeds, and its watched builds leave the stats for its first unwatched one.
        stats = answerable and not (p.memo is not None and p.memo.seeded)
        inputs, racy = _inputs(p, report, trace, tool_stats) if stats else (None, None)
        trace.record_build(report.records, request=p.request if answerable else None, inputs=inputs,
                           summary=[len(report.records), named] if answerable else None, racy=racy)
        # Size tables of the actions no seed reached were remembered when they were built.
        owners = {r.action.owner for r in report.records.decided.values()}
        infos = p.analysis.infos
        remember_built(p.ws, {l: infos[l] for l in owners if l in infos}, report.digests, store)
    trace.save()
    if p.memo is not None:
        p.memo.built(p, report.ok and remember, tool_stats)
    return report


def _tool_stats(p: Plan) -> dict:
    """The stat of every tool the actions run, taken before they run, and of
    the directories a tool lookup searches (a new or re-pointed program there
    changes the directory)."""
    paths = p.tool_paths()
    dirs = {os.path.dirname(t) for t in paths} | {d for d in os.environ.get("PATH", "").split(os.pathsep) if d}
    return {path: rebuild.stat_of(path) for path in sorted(paths | dirs)}


def _inputs(p: Plan, report: BuildReport, trace: Trace, tool_stats: dict) -> tuple[dict | None, str | None]:
    """(the stat of every file and directory this build depended on, for the
    next build's stat pass, None; the first path that is racy: modified so
    recently that a later edit could keep its stat: the next build decides by
    content)."""
    root = str(p.ws.root)
    inputs: dict[str, tuple | None] = dict(p.loader.walked)
    for pkg in p.loader.packages.values():
        inputs[os.path.join(root, pkg.build_file)] = pkg.stat
    root_build = os.path.join(root, "BUILD.toml")
    inputs.setdefault(root_build, rebuild.stat_of(root_build))
    by_id = p.analysis.graph.by_id
    for action in map(by_id.__getitem__, report.records):
        for art in action.inputs:
            if art.is_source:
                path = f"{root}/{art.path}"
                entry = trace.sources.get(path)
                # The stat the content digest was taken with: a later edit differs from it.
                inputs[path] = tuple(entry[:3]) if entry else None
        for out in action.outputs:
            path = f"{root}/{out.path}"
            inputs[path] = rebuild.stat_of(path)
    inputs.update(tool_stats)
    for path in rebuild.code_files():
        inputs[path] = rebuild.stat_of(path)
    newest = time.time_ns() - RACY_WINDOW_NS
    for path, st in inputs.items():
        if st is not None and st[1] >= newest:
            return None, path
    return inputs, None
