"""The scheduler: runs the actions the wanted artifacts need in dependency order,
at most `jobs` at once, each through the Executor (cache, else its Runner);
after a failure it stops, or with keep_going builds what does not depend on it.

Actions whose outputs are already cached are finished inline, on this thread:
a few stats and one small read cost less than a round trip through a worker.
So is an action that is the only one able to run (nothing running, nothing
else ready): a round trip through a worker costs ~1 ms on a busy machine.
It runs as it would on a worker: an interrupt arriving meanwhile is held
until it ends (an action the signal did not reach too finishes and is cached).
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import signal
import threading
import time

from .action_graph import ActionGraph
from .actions import Action, Artifact
from .errors import ActionError
from .results import CACHED, FAILED, SKIPPED, ActionRecord, BuildReport, Reporter
from .os_errors import explain_os_error


def schedule(executor, wanted: list[Artifact], graph: ActionGraph, *, jobs: int = 1, keep_going: bool = False,
             reporter: Reporter | None = None, examine: set[str] | None = None) -> BuildReport:
    """Build what `wanted` needs. With `examine` (engine.rebuild.examined: the
    actions the seeds reach), every other action keeps what the trace
    recorded, without its inputs being hashed or a record made: the work is
    that of the actions the seeds reach."""
    jobs = max(1, jobs)
    reporter = reporter or Reporter()
    needed = graph.needed_set(wanted)
    by_id = graph.by_id
    # With seeds, those no seed reaches are reused as one set, without a record
    # each (made when asked for); the others are scheduled.
    reused = executor.untouched(graph, needed, examine) if examine is not None else ()
    report = BuildReport(needed.ids, reused, lambda i: executor.reused(by_id[i], reused.decision(i)),
                         graph.producer)
    actions = needed.ordered(reused.examined, by_id) if examine is not None else needed.actions
    total = len(needed.ids)
    upstream, downstream = graph.upstream, graph.dependents
    running: dict[cf.Future, tuple[Action, ActionRecord | None]] = {}
    stop = False
    done_count = len(reused)
    free_lanes = list(range(jobs))
    lanes: dict[str, tuple[int, float]] = {}
    reporter.build_started(total)

    def finish(record: ActionRecord) -> None:
        nonlocal done_count
        done_count += 1
        if record.action.id in lanes:
            record.lane, record.started = lanes.pop(record.action.id)
            free_lanes.append(record.lane)
            free_lanes.sort()
        record.finished = time.monotonic()
        report.records[record.action.id] = record
        reporter.action_finished(record, done_count, total)

    def skip_dependents(action: Action, why: str) -> None:
        stack = list(dependents[action.id])
        while stack:
            dep = stack.pop()
            if dep.id in report.records:
                continue
            finish(ActionRecord(dep, SKIPPED, error=f"not run: {why}", reason=f"not run: {why}"))
            stack.extend(dependents[dep.id])

    def completed(action: Action, record: ActionRecord | None, error: Exception | None, why: str = "") -> None:
        nonlocal stop
        if error is not None:  # an ActionError says what failed; an OSError is told where
            message = str(error) if isinstance(error, ActionError) else \
                f"{action.describe()}: {explain_os_error(error) if isinstance(error, OSError) else error}"
            finish(ActionRecord(action, FAILED, error=message, reason=why))
            skip_dependents(action, f"{action.owner} failed")
            stop = stop or not keep_going
            return
        report.digests.update(record.outputs)
        for out in action.outputs:
            if out.path not in report.digests and out.path in action.optional_outputs:
                report.digests[out.path] = ""
        finish(record)
        for dep in dependents[action.id]:
            waiting_on[dep.id].discard(action.id)
            if not waiting_on[dep.id] and dep.id not in report.records:
                ready.append(dep)

    if reused:
        reporter.actions_reused(report.records.reused_records(), total)
    chosen = {a.id: a for a in actions}
    waiting_on = {a.id: {u for u in upstream[a.id] if u in chosen} for a in actions}
    dependents = {a.id: [chosen[d] for d in downstream[a.id] if d in chosen] for a in actions}
    ready = collections.deque(a for a in actions if not waiting_on[a.id])

    with cf.ThreadPoolExecutor(max_workers=jobs) as pool:
        while ready or running:
            while ready and not stop and len(running) < jobs:
                action = ready.popleft()
                try:
                    digests = {a.path: executor.source_digest(a.path) if a.is_source
                               else report.digests[a.path] for a in action.inputs}
                except OSError as e:
                    finish(ActionRecord(action, FAILED, error=f"{action.describe()}: cannot read input: {e}"))
                    skip_dependents(action, f"{action.owner} failed")
                    stop = not keep_going
                    continue
                lane = free_lanes.pop(0)
                lanes[action.id] = (lane, time.monotonic())
                reporter.action_started(action, lane)
                # A local cache hit with its outputs in place is a few stats and
                # one small read: done here, without a round trip through the
                # worker threads; copying outputs back from the store is not.
                try:
                    record = executor.cached(action, digests, restore=False)
                except OSError as e:
                    completed(action, None, e)
                    continue
                if record is not None and record.status == CACHED:
                    completed(action, record, None)
                elif not running and not ready:
                    # The one action that can run now (nothing else becomes
                    # ready before it ends: each step of a rebuilt chain).
                    try:
                        outcome, error = _run_here(executor, action, digests, record), None
                    except (ActionError, OSError) as e:
                        outcome, error = None, e
                    completed(action, outcome, error, record.reason if error is not None and record is not None else "")
                else:
                    running[pool.submit(executor.run, action, digests, record)] = (action, record)
            if stop and not running:
                break
            if not running:
                break
            finished, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
            for future in finished:
                action, decided = running.pop(future)
                try:
                    completed(action, future.result(), None)
                except (ActionError, OSError) as e:
                    completed(action, None, e, decided.reason if decided is not None else "")
    for action in actions:
        if action.id not in report.records.decided:
            why = "not run: the build stopped after a failure"
            report.records[action.id] = ActionRecord(action, SKIPPED, error=why, reason=why)
    reporter.build_finished(report)
    return report


def _run_here(executor, action: Action, digests: dict[str, str], record: ActionRecord | None) -> ActionRecord:
    """executor.run on this thread, as on a worker: SIGINT, which only the main
    thread receives, is held while it runs and delivered once it returned."""
    previous = signal.getsignal(signal.SIGINT) if threading.current_thread() is threading.main_thread() else None
    if previous is None:  # no signal reaches this thread, or a handler Python cannot put back
        return executor.run(action, digests, record)
    held: list[int] = []
    signal.signal(signal.SIGINT, lambda signum, frame: held.append(signum))
    try:
        return executor.run(action, digests, record)
    finally:
        signal.signal(signal.SIGINT, previous)
        if held:
            signal.raise_signal(signal.SIGINT)  # to the handler that was there: KeyboardInterrupt, or the server's
