"""The server's incremental path: after a successful build, keep its plan,
report and trace; while the file watcher has run without a gap since
then, the paths it reports are all that can have changed. A build of the
same patterns then re-examines only the actions reading a changed source or
writing a changed output, and everything downstream of them, reusing the
previous build's digests for every other input.

Anything the reverse index cannot place (a BUILD.toml, a new or removed
directory outside the outputs, a source the loader checked but no action
reads, a changed tool) sends the command down the full path instead, which
still reuses the loaded packages, analysis and action results.
"""

from __future__ import annotations

import os
import stat

from .workspace import BUILD_FILE, OUTPUT_DIR

MAX_PENDING = 20_000  # more changed paths than this: take the full path


class State:
    def __init__(self, mpath: str, plan, wanted, report, tool_stats: dict, trace, manifest_stat):
        self.mpath = mpath
        self.plan = plan
        self.wanted = wanted
        self.report = report
        self.tool_stats = tool_stats
        self.trace = trace  # engine.trace, kept in memory between builds
        self.manifest_stat = manifest_stat  # the up-to-date record this build wrote
        self.anchored = False  # the watcher has run without a gap since this build's inputs were read
        self.pending: set[str] = set()  # paths changed since then
        self._index = None

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

    def index(self):
        """(position, consumers, producers, dependents, dirs, target sources): built once."""
        if self._index is None:
            p = self.plan
            root = str(p.ws.root) + os.sep
            graph = p.analysis.graph
            order = graph.needed(self.wanted)
            position = {a.id: i for i, a in enumerate(order)}
            # By action id: a BUILD.toml edit that keeps the graph's shape
            # replaces Action objects (see reanalyse), not these.
            needed = set(position)
            consumers = {}
            for path, ids in graph.consumers.items():
                readers = [i for i in ids if i in needed]
                if readers:
                    consumers[root + path] = readers
            dependents = graph.dependents
            outputs = {root + out.path: a.id for a in order for out in a.outputs}
            targets = {root + s for pkg in p.loader.packages.values() for t in pkg.targets.values() for s in t.sources}
            build_files = [root + pkg.build_file for pkg in p.loader.packages.values()]
            dirs = set(p.loader.walked)
            for path in (*consumers, *targets, *build_files):
                d = os.path.dirname(path)
                while d not in dirs and len(d) >= len(root):
                    dirs.add(d)
                    d = os.path.dirname(d)
            self._index = (position, consumers, outputs, dependents, dirs, targets)
        return self._index

    def affected(self, paths: set[str]) -> list | None:
        """The actions to re-examine for these changed paths, dependencies
        first; None when the full path must decide."""
        position, consumers, outputs, dependents, dirs, targets = self.index()
        root = str(self.plan.ws.root)
        out_prefix = os.path.join(root, OUTPUT_DIR) + os.sep
        seeds = []
        build_files = [path for path in paths if os.path.basename(path) == BUILD_FILE]
        if build_files:
            edited = self.reanalyse(build_files)
            if edited is None:
                return None
            seeds.extend(edited)
            paths = paths.difference(build_files)
        for path in paths:
            hit = consumers.get(path)
            if hit is not None:
                if not os.path.isfile(path):
                    return None  # a source went away: the loader reports it
                seeds.extend(hit)
                continue
            producer = outputs.get(path)
            if producer is not None:
                seeds.append(producer)
                continue
            base = os.path.basename(path)
            if path in targets:
                return None
            inside_out = path.startswith(out_prefix) or path == out_prefix[:-1]
            if inside_out and base.startswith(".tmp-"):
                continue  # an atomic write's temporary file
            try:
                is_dir = stat.S_ISDIR(os.lstat(path).st_mode)
                gone = False
            except OSError:
                is_dir, gone = False, True
            if inside_out and (is_dir or gone):
                # A directory of outputs (re)created, moved or removed: every output under it.
                under = path + os.sep
                seeds.extend(a for o, a in outputs.items() if o.startswith(under))
                continue
            if inside_out:
                continue  # a file no action declares
            if is_dir or (gone and path in dirs):
                return None  # packages may have appeared or gone
            # Any other file: no action reads it and no package is defined by it.
        graph = self.plan.analysis.graph
        closure = [i for i in graph.downstream(seeds) if i in position]
        return [graph.by_id[i] for i in sorted(closure, key=position.__getitem__)]

    def reanalyse(self, build_files: list[str]) -> list[str] | None:
        """Load the packages of edited BUILD.toml files again and analyse their
        targets; the ids of their actions when only commands changed (the same
        targets, dependencies, sources, outputs, inputs and tools, and what each
        target provides its dependents), else None: the full path decides."""
        from .analysis import AnalysisContext
        from .errors import WasmeltError
        from .loader import load_package
        from .registry import rule_kinds

        p = self.plan
        root = str(p.ws.root) + os.sep
        by_file = {root + pkg.build_file: pkg for pkg in p.loader.packages.values()}
        kinds = rule_kinds()
        infos = p.analysis.infos
        position = {label: i for i, label in enumerate(p.graph.order)}
        owned: dict = {}  # label -> indexes of its actions in all_actions
        for i, a in enumerate(p.analysis.all_actions):
            owned.setdefault(a.owner, []).append(i)
        replaced: list[tuple] = []  # (old action, new action)
        updates = []
        for path in build_files:
            old_pkg = by_file.get(path)
            if old_pkg is None or not old_pkg.name:
                return None  # a new package, or the root one (workspace settings)
            try:
                new_pkg = load_package(p.ws, old_pkg.name)
            except (WasmeltError, OSError):
                return None  # the full path reports it
            if set(new_pkg.targets) != set(old_pkg.targets):
                return None
            analysed = []
            for name in sorted(new_pkg.targets, key=lambda n: position.get(old_pkg.targets[n].label, -1)):
                old_t, new_t = old_pkg.targets[name], new_pkg.targets[name]
                if old_t.label not in p.graph.targets:
                    return None  # not part of this build: the full path decides
                if (new_t.kind, new_t.deps, new_t.sources) != (old_t.kind, old_t.deps, old_t.sources):
                    return None
                ctx = AnalysisContext(p.ws, new_t, infos, {l: t.kind for l, t in ((d, p.graph.targets[d]) for d in new_t.deps)})
                try:
                    info = kinds[new_t.kind].analyze(ctx)
                except (WasmeltError, KeyError):
                    return None
                if info != infos[old_t.label]:
                    return None  # what dependents see changed: their analysis too
                old_actions = [p.analysis.all_actions[i] for i in owned.get(old_t.label, ())]
                if [a.id for a in ctx.actions] != [a.id for a in old_actions]:
                    return None
                for old_a, new_a in zip(old_actions, ctx.actions):
                    if (old_a.inputs, old_a.outputs, {t.path for t in old_a.tools}) != \
                            (new_a.inputs, new_a.outputs, {t.path for t in new_a.tools}):
                        return None
                    if old_a != new_a:
                        replaced.append((old_a, new_a))
                analysed.append((new_t, infos[old_t.label], ctx.actions))
            updates.append((old_pkg, new_pkg, analysed))
        # Every check passed: the plan takes the new objects.
        memo = p.memo.analysis if p.memo is not None else None
        for old_pkg, new_pkg, analysed in updates:
            p.loader.packages[new_pkg.name] = new_pkg
            if p.memo is not None:
                p.memo.packages.put(p.ws, new_pkg)
            for target, info, actions in analysed:
                p.graph.targets[target.label] = target
                if memo is not None:
                    memo.put(target, infos, info, actions)
        for _, _, analysed in updates:
            for target, _, actions in analysed:
                for i, action in zip(owned.get(target.label, ()), actions):
                    p.analysis.graph.put(i, action)
        return [new.id for _, new in replaced]

    def summary(self) -> tuple[int, list]:
        """What the up-to-date answer prints: (actions, [(label, [files])])."""
        p = self.plan
        labels = [(str(l), [f.path for f in p.analysis.infos[l].files]) for l in p.labels] if len(p.labels) <= 10 else []
        return len(self.report.records), labels

    def tools_unchanged(self) -> bool:
        from .uptodate import stat_of

        return all(stat_of(path) == s for path, s in self.tool_stats.items())


def build(state: State, argv: list[str], started: float, deferred: list, frontend) -> int | None:
    """Run `wasmelt build` over what changed; None when the full path must run.
    `frontend` parses argv and prints (see engine.server)."""
    if not state.tools_unchanged():
        return None
    subset = state.affected(state.pending)
    if subset is None:
        return None
    args = frontend.parse(argv)
    from .sandbox import configure

    configure(args.sandbox, args.sandbox_debug)
    state.pending = set()
    if not subset:
        from .trace import mark_up_to_date
        from .workspace import records_dir

        mark_up_to_date(str(records_dir(state.plan.ws)))
        return frontend.report.up_to_date(*state.summary(), args.quiet, started)
    try:
        return _run(state, subset, args, started, deferred, frontend.report)
    except BaseException:
        state.unanchor()  # interrupted: what changed is no longer known, the full path decides
        raise


def _run(state: State, subset: list, args, started: float, deferred: list, printer) -> int:
    from .executor import EXECUTED, BuildReport, Executor
    from .scheduler import schedule
    from .locks import cache_lock, workspace_lock
    from .store import Store

    p = state.plan
    try:
        os.unlink(state.mpath)  # the up-to-date record no longer describes the outputs
    except OSError:
        pass
    state.manifest_stat = False  # never anchored again by the record's check
    reporter = printer.make_reporter(args.progress, args.verbose, args.quiet)
    store = Store(p.ws.cache_dir)
    executor = Executor(p.ws, store, state.trace, timeout=args.action_timeout)
    with workspace_lock(p.ws):
        with cache_lock(p.ws.cache_dir, exclusive=False):
            report = schedule(executor, [], p.analysis.graph, jobs=args.jobs or os.cpu_count() or 1,
                              keep_going=args.keep_going, reporter=reporter, only=subset, known=state.report.digests)
    report.corrupt_entries = list(store.corrupt_entries)
    previous = state.report
    records = previous.records
    records.update(report.records)
    merged = BuildReport(records, report.digests, report.corrupt_entries)
    state.report = merged
    ok = report.ok
    if not ok:
        state.unanchor()  # the next build takes the full path (and reports the failure again)
    if ok and not args.quiet:
        printer.targets(state.summary()[1])
    for entry in report.corrupt_entries:
        printer.warning(f"damaged cache entry discarded: {entry}")
    # Every action not re-examined was reused: it counts as cached.
    counts = {s: report.count(s) for s in (EXECUTED, "failed", "skipped")}
    counts["cached"] = len(records) - sum(counts.values())
    printer.note(printer.summary_line("Build", ok, len(records), counts, started))

    def bookkeeping() -> None:
        """After the answer: the records `explain` and `size` read."""
        from .rebuild import UNTOUCHED
        from .sizes import remember_built

        state.trace.record_build(records, ran=report.records, reused_reason=UNTOUCHED)
        state.trace.save()
        owners = {r.action.owner for r in report.records.values()}
        remember_built(p.ws, {l: i for l, i in p.analysis.infos.items() if l in owners}, report.digests, store)

    deferred.append(bookkeeping)
    return 0 if ok else 1
