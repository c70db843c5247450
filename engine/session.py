"""One command's view of the workspace: load the requested targets, analyze
them into actions, and build the artifacts they need."""

from __future__ import annotations

import fcntl
import os
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .analysis import AnalysisResult, analyze
from .executor import BuildReport, Executor, Reporter
from .graph import PackageLoader, TargetGraph, load_graph, resolve_patterns
from .labels import Label
from .records import records_dir, save_build
from .sizes import remember_built
from .statcache import StatCache
from .store import Store
from .workspace import Workspace, find_workspace


@dataclass
class Plan:
    ws: Workspace
    labels: list[Label]  # what the patterns named
    graph: TargetGraph
    analysis: AnalysisResult


def open_workspace(cwd: Path | None = None) -> tuple[Workspace, str]:
    cwd = cwd or Path.cwd()
    ws = find_workspace(cwd)
    return ws, ws.package_of(cwd)


def plan(ws: Workspace, patterns: list[str], current_package: str = "") -> Plan:
    loader = PackageLoader(ws)
    labels = resolve_patterns(loader, patterns, current_package)
    graph = load_graph(loader, labels)
    return Plan(ws, labels, graph, analyze(ws, graph))


@contextmanager
def workspace_lock(ws: Workspace, announce=None):
    """One build at a time per workspace; a second one waits, and says so."""
    path = records_dir(ws) / "lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            (announce or (lambda m: print(m, file=sys.stderr)))(
                "another wasmelt command is building in this workspace; waiting for it to finish ...")
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@contextmanager
def cache_lock(cache_dir: Path, exclusive: bool):
    """Builds share the cache (shared lock); `cache gc` needs it alone."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    with open(cache_dir / "lock", "w") as f:
        mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
        try:
            fcntl.flock(f, mode | fcntl.LOCK_NB)
        except BlockingIOError:
            print("the cache is in use by another wasmelt command; waiting ...", file=sys.stderr)
            fcntl.flock(f, mode)
        yield


def build(p: Plan, wanted, *, jobs: int | None = None, keep_going: bool = False,
          reporter: Reporter | None = None, timeout: float | None = None, use_cache: bool = True,
          record: bool = True, remote=None, expected: dict[str, str] | None = None) -> BuildReport:
    store = Store(p.ws.cache_dir)
    stat_cache = StatCache(records_dir(p.ws) / "stat-cache.json")
    executor = Executor(p.ws, store, stat_cache, jobs=jobs or os.cpu_count() or 1, keep_going=keep_going,
                        reporter=reporter, timeout=timeout, use_cache=use_cache, remote=remote,
                        expected=expected)
    with cache_lock(p.ws.cache_dir, exclusive=False):
        report = executor.build(wanted, p.analysis.actions)
    report.corrupt_entries = list(store.corrupt_entries)
    if record:
        save_build(p.ws, report)
        remember_built(p.ws, p.analysis.infos, report.digests, store)
    return report
