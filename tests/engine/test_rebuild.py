"""The one rebuild decision, in-process over a fake runner: each action is
reused or run with a reason, which the trace keeps for `wasmelt explain`;
and end to end, `explain` prints a reason for every action of a build."""

from __future__ import annotations

import os
import time

import pytest

from conftest import UP_TO_DATE, settle
from fakes import Chain, FakeRunner
from test_uptodate import _two_packages


@pytest.fixture
def chain(tmp_path):
    root = tmp_path / "ws"
    root.mkdir()
    c = Chain(root)
    c.source("a.txt", "A")
    c.step("gen", "a.txt")
    c.step("use", "gen")
    return c


def _build(chain, tmp_path, **fake):
    from wasmelt.engine.executor import Executor
    from wasmelt.engine.scheduler import schedule
    from wasmelt.engine.store import Store
    from wasmelt.engine.trace import Trace
    from wasmelt.engine.workspace import Workspace

    ws = Workspace(root=chain.root, settings={}, cache_dir=tmp_path / "cache")
    store, trace = Store(ws.cache_dir), Trace(tmp_path / "records")
    runner = FakeRunner(chain.root, store, **fake)
    report = schedule(Executor(ws, store, trace, runner=runner), [chain.actions["use"].outputs[0]], chain.graph())
    trace.record_build(report.records)
    trace.save()
    return runner.commands_ran, {r.action.argv[-1]: (r.status, r.reason) for r in report.records.values()}


def test_every_decision_has_its_reason(chain, tmp_path):
    ran, why = _build(chain, tmp_path)
    assert ran == ["gen", "use"]
    assert why["gen"] == ("executed", "first build of this action (no earlier run recorded)")
    ran, why = _build(chain, tmp_path)
    assert ran == [] and why == {"gen": ("cached", "nothing changed since the last build"),
                                 "use": ("cached", "nothing changed since the last build")}
    chain.source("a.txt", "B")
    ran, why = _build(chain, tmp_path)
    assert ran == ["gen", "use"]
    assert why["gen"][0] == "executed" and why["gen"][1].startswith("input `a.txt` changed (")
    assert why["use"][1].startswith("input `wasmelt-out/p/gen/out` changed (")


def test_a_result_from_an_earlier_run_says_so(chain, tmp_path):
    _build(chain, tmp_path)
    chain.source("a.txt", "B")
    _build(chain, tmp_path)
    chain.source("a.txt", "A")  # back to the first build's bytes: in the action cache
    ran, why = _build(chain, tmp_path)
    assert ran == []
    assert why["gen"][0] == "cached" and "input `a.txt` changed" in why["gen"][1]
    assert why["gen"][1].endswith("an earlier run with these inputs is in the action cache")


def test_a_failure_keeps_why_the_action_ran(chain, tmp_path):
    _build(chain, tmp_path)
    chain.source("a.txt", "B")
    _, why = _build(chain, tmp_path, fail={"gen"})
    assert why["gen"][0] == "failed" and why["gen"][1].startswith("input `a.txt` changed")
    assert why["use"] == ("skipped", "not run: //p:gen failed")


def test_the_trace_survives_a_record_cut_short(chain, tmp_path):
    from wasmelt.engine.trace import Trace

    _build(chain, tmp_path)
    path = tmp_path / "records" / "trace"
    with open(path, "ab") as f:
        f.write(b"\xfa\x01")  # a killed build's half-written record
    trace = Trace(tmp_path / "records")
    assert {e["status"] for e in trace.actions.values()} == {"executed"}
    assert len(trace.last_build) == 2


def test_an_up_to_date_answer_is_one_record_and_the_next_build_ends_it(chain, tmp_path):
    from wasmelt.engine.trace import Trace, mark_up_to_date

    _build(chain, tmp_path)
    path = tmp_path / "records" / "trace"
    size = path.stat().st_size
    mark_up_to_date(str(tmp_path / "records"))
    mark_up_to_date(str(tmp_path / "records"))  # already the last record: nothing appended
    assert path.stat().st_size > size
    marked = path.stat().st_size
    mark_up_to_date(str(tmp_path / "records"))
    assert path.stat().st_size == marked and Trace(tmp_path / "records").up_to_date
    chain.source("a.txt", "C")
    _build(chain, tmp_path)
    assert not Trace(tmp_path / "records").up_to_date


def test_the_whole_build_answer_from_a_record_in_memory(tmp_path):
    """The server passes the last build record it holds: the trace is not read,
    and appended to only when that record was not yet answered as a whole."""
    from wasmelt.engine.rebuild import null_build
    from wasmelt.engine.trace import Trace

    records = tmp_path / "records"
    records.mkdir()
    build = {"actions": [], "request": "req", "inputs": {}, "summary": [3, []]}
    assert null_build(str(records), "req", [], (build, True)) == [3, []]
    assert not (records / "trace").exists()  # neither read nor written
    assert null_build(str(records), "other", [], (build, True)) is None  # another request
    assert null_build(str(records), "req", ["/a/changed/file"], (build, True)) is None
    assert null_build(str(records), "req", [], (build, False)) == [3, []]
    assert Trace(records).up_to_date  # the answer is recorded


def test_the_stat_pass_relative_to_the_workspace_finds_what_the_absolute_one_finds(tmp_path):
    from wasmelt.engine.rebuild import stat_of, stat_seeds

    ws, outside = tmp_path / "ws", tmp_path / "outside"
    for d in (ws / "pkg", outside):
        d.mkdir(parents=True)
    same, edited, gone, outer = ws / "pkg/same.txt", ws / "pkg/edited.txt", ws / "pkg/gone.txt", outside / "tool"
    for f in (same, edited, gone, outer):
        f.write_text("x")
    inputs = {str(p): stat_of(str(p)) for p in (ws, ws / "pkg", same, edited, gone, outer)}
    inputs[str(ws / "pkg/new.txt")] = None  # absent when recorded
    edited.write_text("longer")
    gone.unlink()
    (ws / "pkg/new.txt").write_text("y")
    outer.write_text("changed")
    expected = sorted(map(str, (ws / "pkg", edited, gone, outer, ws / "pkg/new.txt")))
    assert sorted(stat_seeds(inputs)) == expected
    assert sorted(stat_seeds(inputs, str(ws))) == expected
    assert sorted(stat_seeds(inputs, str(tmp_path / "missing"))) == expected  # no such root: all absolute


def test_the_trace_is_recompacted_when_mostly_redundant(chain, tmp_path):
    from wasmelt.engine import trace as trace_mod

    path = tmp_path / "records" / "trace"
    sizes = []
    for i in range(60):
        chain.source("a.txt", "x" * (i % 7))
        _build(chain, tmp_path)
        sizes.append(path.stat().st_size)
    assert path.read_bytes().startswith(trace_mod.SIGNATURE)
    assert max(sizes) < trace_mod.COMPACT_RATIO * min(sizes) + (1 << 16) + 4096
    assert any(b < a for a, b in zip(sizes, sizes[1:]))  # it shrank at least once


def test_explain_gives_a_reason_for_every_action_including_nothing_changed(workspace):
    _two_packages(workspace)
    assert workspace.run("build", "//...").code == 0
    for label in ("//a:upper", "//b:framed"):
        out = workspace.run("explain", label).out.splitlines()
        assert ": executed (key " in out[0] and out[1] == "  first build of this action (no earlier run recorded)"
    run = settle(workspace)  # the third build is the up-to-date answer
    assert UP_TO_DATE in run.err
    for label in ("//a:upper", "//b:framed"):
        out = workspace.run("explain", label).out.splitlines()
        assert out[0].endswith(")") and ": cached (key " in out[0]
        assert out[1] == "  nothing changed since the last build"
    workspace.write("a/in.txt", "other\n")
    assert workspace.run("build", "//...").counts["executed"] == 2
    upper = workspace.run("explain", "//a:upper").out
    assert ": executed" in upper and "input `a/in.txt` changed (" in upper
    framed = workspace.run("explain", "//b:framed").out
    assert "input `wasmelt-out/a/upper/upper.txt` changed (" in framed


def test_explain_names_the_input_too_fresh_for_the_stat_pass(workspace):
    _two_packages(workspace)
    later = time.time_ns() + 60 * 10**9  # modified "now" however long the build takes
    os.utime(workspace.root, ns=(later, later))  # the first path the build depends on: the one named
    assert workspace.run("build", "//...").code == 0
    out = workspace.run("explain", "//a:upper").out.splitlines()
    assert out[-1] == ("the next build decides action by action, not by a stat pass: "
                       f"`{workspace.root.resolve()}` was modified within 2 s of this build, "
                       "too recently for its stat to show a later edit"), out
    settle(workspace)
    assert "not by a stat pass" not in workspace.run("explain", "//a:upper").out


def test_explain_of_an_action_no_seed_reached_says_so_and_the_next_change_replaces_it(workspace):
    """A cold process seeded by the stat pass reuses the actions no edited file
    reaches as one set, writing no record for them: `explain` still gives each
    its reason, and the one after a later decision is that decision's."""
    _two_packages(workspace)
    workspace.write("c/in.txt", "c\n")
    workspace.write("c/BUILD.toml", """
        [[genrule]]
        name = "alone"
        srcs = ["in.txt"]
        outs = ["alone.txt"]
        cmd = "cat $(SRCS) > $(OUT)"
    """)
    settle(workspace)
    workspace.write("a/in.txt", "other\n")
    run = workspace.run("build", "//...")
    assert run.code == 0 and run.counts == {"total": 3, "executed": 2, "cached": 1}
    alone = workspace.run("explain", "//c:alone").out.splitlines()
    assert ": cached (key " in alone[0] and alone[1] == (
        "  nothing changed: no file it depends on was touched since the last build")
    # and, when the build took under 2 s of the edit, that a/in.txt was too fresh for the stat pass
    assert all(line.startswith("the next build decides action by action") for line in alone[2:]), alone
    assert "input `a/in.txt` changed (" in workspace.run("explain", "//a:upper").out
    workspace.write("c/in.txt", "changed\n")
    assert workspace.run("build", "//...").counts["executed"] == 1
    assert "input `c/in.txt` changed (" in workspace.run("explain", "//c:alone").out
    upper = workspace.run("explain", "//a:upper").out.splitlines()  # (by key or unexamined: the edit was racy)
    assert ": cached (key " in upper[0] and upper[1].startswith("  nothing changed")


def test_explain_of_a_target_the_last_build_did_not_include(workspace):
    _two_packages(workspace)
    assert workspace.run("build", "//a:upper").code == 0
    run = workspace.run("explain", "//b:framed")
    assert run.code == 2 and "ERROR: the last build did not include `//b:framed`; build it first" in run.err


def test_a_trace_of_another_version_is_replaced_not_appended_to(chain, tmp_path):
    from wasmelt.engine.trace import SIGNATURE, Trace, last_build

    records = tmp_path / "records"
    records.mkdir()
    (records / "trace").write_bytes(b"wasmelt trace v1\n" + b"\xa9\x02\xda" * 100)
    ran, _ = _build(chain, tmp_path)
    assert ran == ["gen", "use"]
    assert (records / "trace").read_bytes().startswith(SIGNATURE)
    assert len(Trace(records).last_build) == 2 and last_build(str(records))[0]["actions"] == Trace(records).last_build


def test_seeds_decide_which_actions_are_looked_at(chain, tmp_path):
    """The seeded decision in-process: no seed reaches an action, it keeps the
    trace's record without its inputs being hashed; a seed reaches its readers
    and everything downstream; a seed the graph cannot place looks at all."""
    from wasmelt.engine.executor import Executor
    from wasmelt.engine.rebuild import UNTOUCHED, examined
    from wasmelt.engine.scheduler import schedule
    from wasmelt.engine.store import Store
    from wasmelt.engine.trace import Trace
    from wasmelt.engine.workspace import Workspace

    chain.source("b.txt", "B")
    chain.step("other", "b.txt")
    _build(chain, tmp_path)
    root, graph = str(chain.root), chain.graph()
    wanted = [chain.actions["use"].outputs[0], chain.actions["other"].outputs[0]]

    def seeded(seeds):
        ws = Workspace(root=chain.root, settings={}, cache_dir=tmp_path / "cache")
        store, trace = Store(ws.cache_dir), Trace(tmp_path / "records")
        runner = FakeRunner(chain.root, store)
        report = schedule(Executor(ws, store, trace, runner=runner), wanted, graph, examine=examined(graph, seeds, root))
        trace.record_build(report.records)
        trace.save()
        return runner.commands_ran, {r.action.argv[-1]: r.reason for r in report.records.values()}, trace.hashed

    assert seeded(None)[0] == ["other"]  # no seeds known: every action decided by its key
    ran, why, hashed = seeded([])
    assert ran == [] and set(why.values()) == {UNTOUCHED} and hashed == 0
    chain.source("a.txt", "changed")
    ran, why, _ = seeded([f"{root}/a.txt"])
    assert ran == ["gen", "use"] and why["other"] == UNTOUCHED
    assert why["gen"].startswith("input `a.txt` changed")
    assert examined(graph, [f"{root}/wasmelt-out/p/gen/out"], root) == {graph.by_id[a.id].id for a in (chain.actions["gen"], chain.actions["use"])}
    assert examined(graph, [f"{root}/p/BUILD.toml"], root) is None
    assert examined(graph, ["/usr/bin/sh"], root) is None  # a tool: outside the workspace
    (chain.root / "b.txt").unlink()
    assert examined(graph, [f"{root}/b.txt"], root) is None  # a removed source: the loader reports it
