"""The scheduler in-process, over a fake runner (no processes): what runs, in
which order, what a failure stops, and that an unchanged output stops the rebuild."""

from __future__ import annotations

import pytest

from fakes import Chain, FakeRunner


@pytest.fixture
def chain(tmp_path):
    root = tmp_path / "ws"
    root.mkdir()
    c = Chain(root)
    c.source("a.txt", "A")
    c.source("b.txt", "B")
    c.step("left", "a.txt")
    c.step("right", "b.txt")
    c.step("top", "left", "right")
    return c


def _build(chain, tmp_path, wanted=("top",), *, jobs=1, keep_going=False, **fake):
    from wasmelt.engine.executor import Executor
    from wasmelt.engine.scheduler import schedule
    from wasmelt.engine.trace import Trace
    from wasmelt.engine.store import Store
    from wasmelt.engine.workspace import Workspace

    ws = Workspace(root=chain.root, settings={}, cache_dir=tmp_path / "cache")
    store = Store(ws.cache_dir)
    runner = FakeRunner(chain.root, store, **fake)
    executor = Executor(ws, store, Trace(tmp_path / "records"), runner=runner)
    report = schedule(executor, [chain.actions[w].outputs[0] for w in wanted], chain.graph(), jobs=jobs,
                      keep_going=keep_going)
    return runner.commands_ran, report


def _statuses(report):
    return {r.action.argv[-1]: r.status for r in report.records.values()}


def test_one_build_runs_every_action_once_dependencies_first(chain, tmp_path):
    ran, report = _build(chain, tmp_path)
    assert sorted(ran) == ["left", "right", "top"] and ran[-1] == "top"
    assert report.ok and report.count("executed") == 3
    assert chain.output("top") == b"top" + b"leftA" + b"rightB"


def test_a_repeated_build_runs_nothing(chain, tmp_path):
    _build(chain, tmp_path)
    ran, report = _build(chain, tmp_path)
    assert ran == [] and _statuses(report) == {"left": "cached", "right": "cached", "top": "cached"}


def test_an_edited_source_reruns_its_action_and_what_depends_on_it(chain, tmp_path):
    _build(chain, tmp_path)
    chain.source("a.txt", "Z")
    ran, _ = _build(chain, tmp_path)
    assert ran == ["left", "top"]
    assert chain.output("top") == b"topleftZrightB"


def test_an_output_that_comes_out_the_same_stops_the_rebuild(chain, tmp_path):
    _build(chain, tmp_path, same={"left"})
    chain.source("a.txt", "Z")
    ran, report = _build(chain, tmp_path, same={"left"})
    assert ran == ["left"]  # early cutoff: `top` keeps its key
    assert _statuses(report)["top"] == "cached"


def test_only_what_the_wanted_artifact_needs_runs(chain, tmp_path):
    ran, report = _build(chain, tmp_path, wanted=("left",))
    assert ran == ["left"] and len(report.records) == 1


def test_a_failure_skips_its_dependents_and_stops(chain, tmp_path):
    ran, report = _build(chain, tmp_path, fail={"left", "right"})
    assert len(ran) == 1  # stopped after the first failure: the other leaf never started
    first, other = ran[0], ({"left", "right"} - set(ran)).pop()
    assert _statuses(report) == {first: "failed", other: "skipped", "top": "skipped"}
    assert not report.ok and f"Fake //p:{first} failed" in report.records[chain.actions[first].id].error


def test_keep_going_builds_what_does_not_depend_on_the_failure(chain, tmp_path):
    ran, report = _build(chain, tmp_path, keep_going=True, fail={"left"})
    assert sorted(ran) == ["left", "right"]
    assert _statuses(report) == {"left": "failed", "right": "executed", "top": "skipped"}
    assert report.records[chain.actions["top"].id].error == "not run: //p:left failed"


def test_a_failed_action_runs_again_next_time(chain, tmp_path):
    _build(chain, tmp_path, keep_going=True, fail={"left"})
    ran, report = _build(chain, tmp_path)
    assert ran == ["left", "top"] and report.ok  # `right` was cached by the failed build


def test_parallel_lanes_run_everything_once(chain, tmp_path):
    ran, report = _build(chain, tmp_path, jobs=2)
    assert sorted(ran) == ["left", "right", "top"] and report.ok
    assert {r.lane for r in report.records.values()} <= {0, 1}


def _seeded(chain, tmp_path, seeds, wanted=("top",), reporter=None, keep_going=False, **fake):
    """A build seeded as the server's (engine.rebuild.examined; None: no seeds,
    every action decided by its key), recorded in the trace."""
    from wasmelt.engine.executor import Executor
    from wasmelt.engine.rebuild import examined
    from wasmelt.engine.scheduler import schedule
    from wasmelt.engine.store import Store
    from wasmelt.engine.trace import Trace
    from wasmelt.engine.workspace import Workspace

    ws = Workspace(root=chain.root, settings={}, cache_dir=tmp_path / "cache")
    store, trace = Store(ws.cache_dir), Trace(tmp_path / "records")
    runner = FakeRunner(chain.root, store, **fake)
    graph = chain.graph()
    report = schedule(Executor(ws, store, trace, runner=runner), [chain.actions[w].outputs[0] for w in wanted],
                      graph, examine=examined(graph, None if seeds is None else [str(chain.root / s) for s in seeds],
                                              str(chain.root)), reporter=reporter, keep_going=keep_going)
    trace.record_build(report.records)
    trace.save()
    return runner.commands_ran, report


class Recording:
    """A Reporter keeping what it was told (the default actions_reused: one action_finished each)."""

    def __init__(self, count_only=False):
        from wasmelt.engine.reporter import Reporter

        self.finished, self.reused_sets, self.count_only = [], [], count_only
        self.base = Reporter

    def build_started(self, total): ...
    def action_started(self, action, lane): ...
    def build_finished(self, report): ...

    def action_finished(self, record, done, total):
        self.finished.append((record.action.argv[-1], record.status, done, total))

    def actions_reused(self, records, total):
        self.reused_sets.append(len(records))
        if not self.count_only:
            self.base.actions_reused(self, records, total)


def test_a_seeded_build_makes_records_only_for_what_the_seeds_reach(chain, tmp_path):
    from wasmelt.engine.rebuild import UNTOUCHED
    from wasmelt.engine.trace import Trace

    _seeded(chain, tmp_path, None)
    chain.source("a.txt", "Z")
    reporter = Recording(count_only=True)
    ran, report = _seeded(chain, tmp_path, ["a.txt"], reporter=reporter)
    assert ran == ["left", "top"]
    records = report.records
    right = chain.actions["right"]
    # `right` was decided as part of one set: no record made, none reported one by one.
    assert set(records.decided) == {chain.actions["left"].id, chain.actions["top"].id}
    assert reporter.reused_sets == [1] and [f[0] for f in reporter.finished] == ["left", "top"]
    assert [f[2:] for f in reporter.finished] == [(2, 3), (3, 3)]  # counted after the reused one
    assert len(records) == 3 and report.count("cached") == 1 and report.count("executed") == 2 and report.ok
    assert report.summary() == "3 actions: 2 executed, 1 cached"
    # Asked for, its record is the trace's, reused for the untouched reason.
    record = records[right.id]
    assert record.status == "cached" and record.reason == UNTOUCHED
    trace = Trace(tmp_path / "records")
    assert record.outputs == trace.actions[right.id]["outputs"]
    assert report.digests[right.outputs[0].path] == trace.actions[right.id]["outputs"][right.outputs[0].path]
    assert dict(report.digests).keys() == {a.outputs[0].path for a in chain.actions.values()}
    # The trace keeps which were decided: the others' records stand as they were.
    assert trace.build["decided"] == list(records.decided) and trace.last_build == list(records)
    assert trace.actions[right.id]["reason"] == "first build of this action (no earlier run recorded)"


def test_a_reused_set_is_reported_one_by_one_by_default(chain, tmp_path):
    _seeded(chain, tmp_path, None)
    reporter = Recording()
    ran, report = _seeded(chain, tmp_path, [], reporter=reporter)
    assert ran == [] and reporter.reused_sets == [3] and len(report.records.decided) == 0
    assert sorted(f[:2] for f in reporter.finished) == [("left", "cached"), ("right", "cached"), ("top", "cached")]
    assert sorted(f[2] for f in reporter.finished) == [1, 2, 3]


def test_an_action_whose_last_record_failed_is_decided_again_though_no_seed_reaches_it(chain, tmp_path):
    _seeded(chain, tmp_path, None)
    chain.source("b.txt", "Y")
    ran, report = _seeded(chain, tmp_path, None, keep_going=True, fail={"right"})
    assert ran == ["right"] and not report.ok
    chain.source("b.txt", "B")  # back: no seed names it (as after a flaky failure)
    ran, report = _seeded(chain, tmp_path, [])
    # Its failure vouches for no output: it is decided by its key (the first
    # build's result is in the action cache), and `top` after it.
    assert ran == [] and report.ok
    assert set(report.records.decided) == {chain.actions["right"].id, chain.actions["top"].id}
    assert report.records[chain.actions["right"].id].reason == "same key as the last run, whose result is in the action cache"
    assert chain.output("top") == b"top" + b"leftA" + b"rightB"


def test_an_action_the_trace_never_recorded_is_decided_with_what_depends_on_it(chain, tmp_path):
    _seeded(chain, tmp_path, None, wanted=("left",))
    ran, report = _seeded(chain, tmp_path, [])
    assert ran == ["right", "top"] and report.ok
    assert set(report.records.decided) == {chain.actions["right"].id, chain.actions["top"].id}



def test_the_only_action_able_to_run_runs_on_the_scheduling_thread(chain, tmp_path):
    import threading

    from wasmelt.engine.runner import RunResult

    threads = {}
    real = FakeRunner.run

    def run(self, action, inputs) -> RunResult:
        threads[action.argv[-1]] = threading.current_thread()
        return real(self, action, inputs)

    FakeRunner.run = run
    try:
        _build(chain, tmp_path, jobs=2)
    finally:
        FakeRunner.run = real
    here = threading.current_thread()
    # `left` and `right` were ready together: the workers ran them; `top` was alone.
    assert threads["top"] is here
    assert threads["left"] is not here and threads["right"] is not here


def test_an_interrupt_during_an_action_run_here_lets_it_finish_and_be_cached(chain, tmp_path):
    """As on a worker: the action the signal did not reach ends, its result is
    stored, and the interrupt then ends the build."""
    import os
    import signal

    from wasmelt.engine.runner import RunResult

    real = FakeRunner.run
    ended = []

    def run(self, action, inputs) -> RunResult:
        if action.argv[-1] == "top":
            os.kill(os.getpid(), signal.SIGINT)  # the user's Ctrl-C, to this process only
        result = real(self, action, inputs)
        ended.append(action.argv[-1])
        return result

    FakeRunner.run = run
    try:
        with pytest.raises(KeyboardInterrupt):
            _build(chain, tmp_path, jobs=2)
    finally:
        FakeRunner.run = real
    assert ended[-1] == "top" and chain.output("top") == b"top" + b"leftA" + b"rightB"
    ran, report = _build(chain, tmp_path)
    assert ran == [] and report.ok  # it was cached
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
