"""One command's view of the workspace: load the requested targets, analyze
them into actions, and build the artifacts they need."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .analysis import AnalysisResult, analyze
from .executor import BuildReport, Executor, Reporter
from .graph import PackageLoader, TargetGraph, load_graph, resolve_patterns
from .labels import Label
from .locks import cache_lock
from .scheduler import schedule
from .sizes import remember_built
from .store import Store
from .trace import Trace
from .workspace import Workspace, find_workspace, records_dir


@dataclass
class Plan:
    ws: Workspace
    labels: list[Label]  # what the patterns named
    graph: TargetGraph
    analysis: AnalysisResult
    loader: PackageLoader | None = None  # what was loaded (for the up-to-date record)
    memo: "Memo | None" = None  # a long-lived process's (engine.memo)
    trace: Trace | None = None  # the build log, loaded once per command


def open_workspace(cwd: Path | None = None) -> tuple[Workspace, str]:
    cwd = cwd or Path.cwd()
    ws = find_workspace(cwd)
    return ws, ws.package_of(cwd)


def plan(ws: Workspace, patterns: list[str], current_package: str = "", memo=None) -> Plan:
    trace = Trace(records_dir(ws))
    loader = PackageLoader(ws, trace, memo.packages if memo is not None else None)
    labels = resolve_patterns(loader, patterns, current_package)
    graph = load_graph(loader, labels)
    trace.save()
    return Plan(ws, labels, graph, analyze(ws, graph, memo.analysis if memo is not None else None), loader, memo, trace)


def build(p: Plan, wanted, *, jobs: int | None = None, keep_going: bool = False,
          reporter: Reporter | None = None, timeout: float | None = None, use_cache: bool = True,
          record: bool = True, remote=None, expected: dict[str, str] | None = None,
          up_to_date: tuple[str, list[str]] | None = None, uncached: frozenset[str] = frozenset()) -> BuildReport:
    """Build `wanted`. With `up_to_date` = (command package, patterns), a
    successful plain build is remembered for the up-to-date check; `uncached`
    actions run even when a result is cached (--nocache_test_results)."""
    remember = (up_to_date is not None and record and use_cache and not uncached and remote is None and expected is None
                and p.loader is not None)
    tool_stats = _tool_stats(p) if remember else {}
    store = Store(p.ws.cache_dir)
    trace = p.trace or Trace(records_dir(p.ws))
    executor = Executor(p.ws, store, trace, timeout=timeout, use_cache=use_cache, remote=remote,
                        expected=expected, uncached=uncached)
    with cache_lock(p.ws.cache_dir, exclusive=False):
        report = schedule(executor, wanted, p.analysis.graph, jobs=jobs or os.cpu_count() or 1,
                          keep_going=keep_going, reporter=reporter)
    report.corrupt_entries = list(store.corrupt_entries)
    if record:
        trace.record_build(report.records)
        remember_built(p.ws, p.analysis.infos, report.digests, store)
    trace.save()
    if remember and report.ok:
        _remember(p, report, trace, tool_stats, *up_to_date)
        if p.memo is not None:  # the starting point of the server's incremental path
            from .incremental import State
            from .uptodate import manifest_path, stat_of

            mpath = manifest_path(p.ws, up_to_date[0], up_to_date[1])
            p.memo.last = State(mpath, p, wanted, report, tool_stats, trace, stat_of(mpath))
    return report


def _tool_stats(p: Plan) -> dict:
    """The stat of every tool the actions run, taken before they run, and of
    the directories a tool lookup searches (a new or re-pointed program there
    changes the directory)."""
    from .uptodate import stat_of

    paths = {t.path for a in p.analysis.all_actions for t in a.tools}
    dirs = {os.path.dirname(t) for t in paths} | {d for d in os.environ.get("PATH", "").split(os.pathsep) if d}
    return {path: stat_of(path) for path in sorted(paths | dirs)}


def _remember(p: Plan, report: BuildReport, trace: Trace, tool_stats: dict, package: str,
              patterns: list[str]) -> None:
    from . import uptodate

    root = str(p.ws.root)
    sources: dict[str, tuple | None] = {}
    outputs: list[str] = []
    for rec in report.records.values():
        for art in rec.action.inputs:
            if art.is_source:
                path = os.path.join(root, art.path)
                entry = trace.sources.get(path)
                # The stat the content digest was taken with: a later edit differs from it.
                sources[path] = tuple(entry[:3]) if entry else None
        outputs.extend(os.path.join(root, a.path) for a in rec.action.outputs)
    build_files = {os.path.join(root, pkg.build_file): pkg.stat for pkg in p.loader.packages.values()}
    root_build = os.path.join(root, "BUILD.toml")
    build_files.setdefault(root_build, uptodate.stat_of(root_build))
    labels = [(str(l), [f.path for f in p.analysis.infos[l].files]) for l in p.labels] if len(p.labels) <= 10 else []
    uptodate.record(p.ws, package, patterns, build_files=build_files, walked_dirs=dict(p.loader.walked),
                    sources=sources, outputs=outputs, tools=tool_stats, actions=len(report.records), labels=labels)
