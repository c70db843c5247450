"""The scheduler and rebuilder: runs the actions needed for the requested
outputs in dependency order, in parallel, each at most once per distinct key.

Keys use the content digests of inputs, so an upstream action whose output
comes out byte-identical stops the rebuild there (early cutoff).
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .actions import Action, Artifact, action_key
from .errors import ActionError
from .results import CACHED, EXECUTED, FAILED, SKIPPED, ActionRecord, BuildReport, Reporter, Reporters  # noqa: F401
from .sandbox import make_sandbox, remove_sandbox, run_in_sandbox
from .statcache import StatCache
from .store import CachedResult, Store, _atomic_write, digest_file
from .workspace import Workspace

class _NeedsCopy(Exception):
    """A cache hit whose output must be copied back from the store."""


class SourceChanged(ActionError):
    pass


class NonDeterministic(ActionError):
    """Running an action again gave different bytes."""


@dataclass
class RemoteResult:
    outputs: dict[str, bytes]  # declared output path -> verified content
    stdout: bytes = b""
    stderr: bytes = b""
    exit_code: int = 0


class RemoteBackend:
    """A shared cache and/or executor beyond this machine (see engine/remote).

    Implementations verify every blob they return against its digest and
    swallow their own faults: a broken remote degrades to a local build,
    recording one line in `warnings`.
    """

    warnings: list[str]
    can_execute: bool = False

    def attach(self, store: Store, root: Path) -> None:
        """Called once by the executor: where inputs' contents can be read."""

    def lookup(self, action: Action, material: dict) -> RemoteResult | None: ...

    def upload(self, action: Action, material: dict, result: RemoteResult) -> None: ...

    def execute(self, action: Action, material: dict, inputs: dict[str, bytes]) -> RemoteResult | None:
        """The result of running the action remotely, or None when the remote
        cannot run it (the action then runs locally)."""


def needed_actions(wanted: list[Artifact], producers: dict[str, Action]) -> list[Action]:
    """Every action the wanted artifacts need, dependencies first."""
    seen: dict[str, Action] = {}
    order: list[Action] = []
    stack: list[tuple[Action, bool]] = [(producers[a.path], False) for a in wanted if not a.is_source]
    while stack:
        action, expanded = stack.pop()
        if expanded:
            order.append(action)
            continue
        if action.id in seen:
            continue
        seen[action.id] = action
        stack.append((action, True))
        for art in action.inputs:
            if not art.is_source and producers[art.path].id not in seen:
                stack.append((producers[art.path], False))
    return order


class Executor:
    # Set by a long-lived process (engine.server): the last successful record
    # of each action (by id), so an action whose inputs kept their digests is
    # reused without computing its key or reading the action cache.
    memo: dict[str, ActionRecord] | None = None

    def __init__(self, ws: Workspace, store: Store, stat_cache: StatCache, *, jobs: int,
                 keep_going: bool = False, reporter: Reporter | None = None,
                 timeout: float | None = None, use_cache: bool = True, remote: RemoteBackend | None = None,
                 expected: dict[str, str] | None = None):
        self.ws = ws
        self._root = str(ws.root)
        self.store = store
        self.stat_cache = stat_cache
        self.jobs = max(1, jobs)
        self.keep_going = keep_going
        self.reporter = reporter or Reporter()
        self.timeout = timeout
        self.use_cache = use_cache
        self.remote = remote
        if remote is not None:
            remote.attach(store, ws.root)
        # Verification mode (release): run everything again and compare each
        # output with these digests from the cached build.
        self.expected = expected
        self.defer_save = False  # the caller saves the stat cache (later)

    # -- per action, on a worker thread --------------------------------------

    def _materialize(self, path: str, digest: str, data: bytes | None = None, restore: bool = True) -> None:
        full = f"{self._root}/{path}"
        try:
            # Stat first; the stat cache re-hashes only an output whose stat changed.
            st = os.lstat(full)
            if stat.S_ISREG(st.st_mode) and self.stat_cache.digest(full, st) == digest:
                return
        except OSError:
            pass
        if not restore:
            raise _NeedsCopy(path)
        dest = self.ws.root / path
        if data is not None:
            dest.parent.mkdir(parents=True, exist_ok=True)
            _atomic_write(dest, data)
        elif not self.store.materialize(digest, dest):
            raise ActionError(f"cached output `{path}` is missing from the store; run `wasmelt clean` and build again")

    def _cached(self, action: Action, input_digests: dict[str, str], restore: bool = True) -> ActionRecord | None:
        """The record of a local action-cache hit (outputs in place), or an
        EXECUTED record (key computed) for the action still to run; None for a
        hit whose outputs must be copied from the store, when not `restore`."""
        try:
            return self._lookup(action, input_digests, restore)
        except _NeedsCopy:
            return None

    def _lookup(self, action: Action, input_digests: dict[str, str], restore: bool) -> ActionRecord:
        memo = Executor.memo if self.use_cache and self.expected is None else None
        if memo is not None:
            prev = memo.get(action.id)
            # The same action with the same input digests has the same key: the
            # outputs it had last time are its result (checked to be in place).
            if prev is not None and (prev.action is action or prev.action == action) \
                    and prev.material["inputs"] == input_digests:
                try:
                    for path, digest in prev.outputs.items():
                        self._materialize(path, digest, restore=restore)
                    return ActionRecord(action, CACHED, prev.key, prev.material, outputs=prev.outputs,
                                        log_digests=prev.log_digests)
                except ActionError:
                    pass
        material = action.key_material(input_digests)
        key = action_key(material)
        record = ActionRecord(action, EXECUTED, key, material)
        if self.use_cache:
            cached = self.store.get_action(key)
            if cached is not None and set(cached.outputs) <= {a.path for a in action.outputs}:
                try:
                    for path, digest in cached.outputs.items():
                        self._materialize(path, digest, restore=restore)
                    record.status = CACHED
                    record.outputs = cached.outputs
                    record.log_digests = (cached.stdout, cached.stderr)
                except ActionError:
                    pass  # a blob vanished between the lookup and the copy: run it
        return record

    def _run(self, action: Action, input_digests: dict[str, str], record: ActionRecord | None = None) -> ActionRecord:
        if record is None:
            record = self._cached(action, input_digests)
            if record.status == CACHED:
                return record
        material, key = record.material, record.key
        if self.use_cache:
            if self.remote is not None:
                hit = self.remote.lookup(action, material)
                declared = {a.path for a in action.outputs}
                if hit is not None and declared - action.optional_outputs <= set(hit.outputs) <= declared:
                    self._store_result(record, key, hit)
                    record.status, record.remote = CACHED, True
                    return record
        if self.remote is not None and self.remote.can_execute:
            inputs = {}
            for art in action.inputs:
                data = (self.ws.root / art.path).read_bytes() if art.is_source else self.store.get_bytes(input_digests[art.path])
                if data is None or digest_file_bytes(data) != input_digests[art.path]:
                    raise SourceChanged(f"{action.describe()}: input `{art.path}` changed during the build; run the build again")
                inputs[art.path] = data
            result = self.remote.execute(action, material, inputs)
            if result is not None:  # None: the remote could not run it, run it here
                if result.exit_code != 0:
                    from .sandbox import tail
                    raise ActionError(f"{action.describe()} failed remotely (exit code {result.exit_code})\n"
                                      f"{tail(result.stderr or result.stdout)}\n  command: {' '.join(action.argv)}")
                missing = [a.path for a in action.outputs if a.path not in result.outputs and a.path not in action.optional_outputs]
                if missing:
                    raise ActionError(f"{action.describe()} did not produce declared output `{missing[0]}` (remote execution)")
                self._store_result(record, key, result)
                record.remote = True
                return record
        sandbox = make_sandbox(self.store.root / "sandbox")
        try:
            for art in action.inputs:
                dest = sandbox / art.path
                dest.parent.mkdir(parents=True, exist_ok=True)
                if art.is_source:
                    data = (self.ws.root / art.path).read_bytes()
                    if digest_file_bytes(data) != input_digests[art.path]:
                        raise SourceChanged(f"{action.describe()}: source `{art.path}` changed during the build; run the build again")
                    dest.write_bytes(data)
                elif not self.store.materialize(input_digests[art.path], dest):
                    raise ActionError(f"{action.describe()}: input `{art.path}` is missing from the store; run the build again")
            for out in action.outputs:
                (sandbox / out.path).parent.mkdir(parents=True, exist_ok=True)
            done = run_in_sandbox(action, sandbox, self.timeout)
            record.duration, record.stdout, record.stderr = done.duration, done.stdout, done.stderr
            outputs: dict[str, str] = {}
            blobs: dict[str, bytes] = {}
            for out in action.outputs:
                path = sandbox / out.path
                if not path.exists():
                    continue  # an optional output the tool did not write
                data = path.read_bytes()
                outputs[out.path] = self.store.put_bytes(data)
                blobs[out.path] = data
            if self.expected is not None:
                self._compare_with_expected(action, outputs, blobs)
            # A source edited while the action ran must not be cached under its
            # old digest: hash the workspace files again.
            for art in action.inputs:
                if art.is_source and digest_file(self.ws.root / art.path) != input_digests[art.path]:
                    raise SourceChanged(f"{action.describe()}: source `{art.path}` changed while the action ran; run the build again")
            result = CachedResult(outputs, self.store.put_bytes(done.stdout), self.store.put_bytes(done.stderr))
            self.store.put_action(key, result)
            record.log_digests = (result.stdout, result.stderr)
            for path, digest in outputs.items():
                self._materialize(path, digest, blobs[path])
            record.outputs = outputs
            if self.remote is not None:
                self.remote.upload(action, material, RemoteResult(blobs, done.stdout, done.stderr))
            return record
        finally:
            remove_sandbox(sandbox)

    def _compare_with_expected(self, action: Action, outputs: dict[str, str], blobs: dict[str, bytes]) -> None:
        for path, digest in sorted(outputs.items()):
            want = self.expected.get(path)
            if want is None or want == digest:
                continue
            before = self.store.get_bytes(want) or b""
            after = blobs[path]
            offset = next((i for i, (x, y) in enumerate(zip(before, after)) if x != y), min(len(before), len(after)))
            raise NonDeterministic(
                f"{action.describe()} is not deterministic: re-running it changed `{path}` "
                f"(first difference at byte offset {offset}; sizes {len(before)} and {len(after)}). "
                "Remove the source of variation (timestamps, paths, randomness, file order) from the command")

    def _store_result(self, record: ActionRecord, key: str, result: RemoteResult) -> None:
        """Keep a remote result locally: CAS, action cache, outputs."""
        outputs = {path: self.store.put_bytes(data) for path, data in result.outputs.items()}
        cached = CachedResult(outputs, self.store.put_bytes(result.stdout), self.store.put_bytes(result.stderr))
        self.store.put_action(key, cached)
        for path, digest in outputs.items():
            self._materialize(path, digest, result.outputs[path])
        record.outputs, record.stdout, record.stderr = outputs, result.stdout, result.stderr
        record.log_digests = (cached.stdout, cached.stderr)

    # -- the schedule, on the calling thread ---------------------------------

    def build(self, wanted: list[Artifact], producers: dict[str, Action], *, only: list[Action] | None = None,
              known: dict[str, str] | None = None) -> BuildReport:
        """Build what `wanted` needs; or, with `only` (dependencies first), just
        those actions, taking the digests of every other input from `known`
        (what an earlier build produced: the server's incremental path)."""
        actions = needed_actions(wanted, producers) if only is None else only
        report = BuildReport()
        if known is not None:
            report.digests = dict(known)
        total = len(actions)
        waiting_on: dict[str, set[str]] = {}
        dependents: dict[str, list[Action]] = {a.id: [] for a in actions}
        for action in actions:
            ups = {producers[i.path].id for i in action.inputs if not i.is_source}
            if only is not None:
                ups = {u for u in ups if u in dependents}
            waiting_on[action.id] = ups
            for up in ups:
                dependents[up].append(action)
        ready = collections.deque(a for a in actions if not waiting_on[a.id])
        running: dict[cf.Future, Action] = {}
        stop = False
        done_count = 0
        free_lanes = list(range(self.jobs))
        lanes: dict[str, tuple[int, float]] = {}
        self.reporter.build_started(total)

        def finish(record: ActionRecord) -> None:
            nonlocal done_count
            done_count += 1
            if record.action.id in lanes:
                record.lane, record.started = lanes.pop(record.action.id)
                free_lanes.append(record.lane)
                free_lanes.sort()
            record.finished = time.monotonic()
            report.records[record.action.id] = record
            self.reporter.action_finished(record, done_count, total)

        def skip_dependents(action: Action, why: str) -> None:
            stack = list(dependents[action.id])
            while stack:
                dep = stack.pop()
                if dep.id in report.records:
                    continue
                finish(ActionRecord(dep, SKIPPED, error=f"not run: {why}"))
                stack.extend(dependents[dep.id])

        def completed(action: Action, record: ActionRecord | None, error: Exception | None) -> None:
            nonlocal stop
            if isinstance(error, ActionError):
                finish(ActionRecord(action, FAILED, error=str(error)))
                skip_dependents(action, f"{action.owner} failed")
                stop = stop or not self.keep_going
                return
            if error is not None:
                finish(ActionRecord(action, FAILED, error=f"{action.describe()}: {error}"))
                skip_dependents(action, f"{action.owner} failed")
                stop = stop or not self.keep_going
                return
            report.digests.update(record.outputs)
            for out in action.outputs:
                if out.path not in report.digests and out.path in action.optional_outputs:
                    report.digests[out.path] = ""
            finish(record)
            if Executor.memo is not None and record.material is not None and self.expected is None:
                Executor.memo[action.id] = record
            for dep in dependents[action.id]:
                waiting_on[dep.id].discard(action.id)
                if not waiting_on[dep.id] and dep.id not in report.records:
                    ready.append(dep)

        finished_inline = completed

        with cf.ThreadPoolExecutor(max_workers=self.jobs) as pool:
            while ready or running:
                while ready and not stop and len(running) < self.jobs:
                    action = ready.popleft()
                    try:
                        digests = {a.path: self.stat_cache.digest(f"{self._root}/{a.path}") if a.is_source
                                   else report.digests[a.path] for a in action.inputs}
                    except OSError as e:
                        finish(ActionRecord(action, FAILED, error=f"{action.describe()}: cannot read input: {e}"))
                        skip_dependents(action, f"{action.owner} failed")
                        stop = not self.keep_going
                        continue
                    lane = free_lanes.pop(0)
                    lanes[action.id] = (lane, time.monotonic())
                    self.reporter.action_started(action, lane)
                    # A local cache hit with its outputs in place is a few stats and
                    # one small read: done here, without a round trip through the
                    # worker threads; copying outputs back from the store is not.
                    try:
                        record = self._cached(action, digests, restore=False)
                    except OSError as e:
                        finished_inline(action, None, e)
                        continue
                    if record is not None and record.status == CACHED:
                        finished_inline(action, record, None)
                    else:
                        running[pool.submit(self._run, action, digests, record)] = action
                if stop and not running:
                    break
                if not running:
                    break
                finished, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
                for future in finished:
                    action = running.pop(future)
                    try:
                        completed(action, future.result(), None)
                    except (ActionError, OSError) as e:
                        completed(action, None, e)
        for action in actions:
            if action.id not in report.records:
                report.records[action.id] = ActionRecord(action, SKIPPED, error="not run: the build stopped after a failure")
        if not self.defer_save:
            self.stat_cache.save()
        self.reporter.build_finished(report)
        return report


def digest_file_bytes(data: bytes) -> str:
    from .actions import digest_bytes

    return digest_bytes(data)
