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
