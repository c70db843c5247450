"""`wasmelt test`: build the test targets' inputs, run the tests (cached like
any action), print PASSED/FAILED per test and optionally a JUnit file."""

from __future__ import annotations

from pathlib import Path

from wasmelt import report

from .build import run_build
from .flags import build_flags, test_flags

# What a test runner reads to run only some of its cases (as Bazel's TESTBRIDGE_TEST_ONLY):
# comma-separated globs; part of the test action's key, so each filter's result is cached apart.
TEST_FILTER_ENV = "WASMELT_TEST_FILTER"


def add_parser(sub) -> None:
    t = sub.add_parser("test", help="build and run test targets", epilog="example: wasmelt test //examples/... --test_output=errors")
    build_flags(t)
    test_flags(t)


def test_actions(p, tests, args) -> dict:
    """Each test's action as the flags ask: --test_filter in its environment, --test_timeout as its
    timeout; the plan's action graph then holds these."""
    import dataclasses

    from wasmelt.engine.action_graph import ActionGraph
    from wasmelt.engine.analysis import AnalysisResult, TestInfo

    action_of = {}
    for label in tests:
        action = p.analysis.infos[label][TestInfo].action
        changes = {}
        if args.test_filter:
            changes["env"] = tuple(sorted({**dict(action.env), TEST_FILTER_ENV: args.test_filter}.items()))
        if args.test_timeout:
            changes["timeout"] = args.test_timeout
        action_of[label] = dataclasses.replace(action, **changes) if changes else action
    replaced = {a.id: a for a in action_of.values()}
    changed = {i for i in replaced if replaced[i] is not p.analysis.graph.by_id.get(i)}
    if changed:
        p.analysis = AnalysisResult(p.analysis.infos, ActionGraph(replaced.get(a.id, a) for a in p.analysis.all_actions))
        if p.examine is not None:  # a changed action is decided by its key, not reused as the trace left it
            p.examine = p.examine | changed
    return action_of


def run(args) -> int:
    from wasmelt.engine.analysis import TestInfo
    from wasmelt.engine.errors import ConfigError
    from wasmelt.engine.executor import CACHED, EXECUTED
    from wasmelt.engine.store import Store

    p = args.plan
    infos = p.analysis.infos
    tests = [l for l in p.labels if TestInfo in infos[l]]
    if not tests:
        raise ConfigError(f"no test targets match {' '.join(args.patterns)}")
    action_of = test_actions(p, tests, args)
    wanted = [a for l in tests for a in action_of[l].outputs]

    def test_events(events, result):
        for label in tests:
            record = result.records[action_of[label].id]
            events.test_result(str(label), record.status in (EXECUTED, CACHED), record.status == CACHED,
                               max(0.0, record.finished - record.started))

    result = run_build(args, p, wanted, quiet=True, keep_going=True, on_events=test_events,
                       reported_elsewhere={action_of[l].id for l in tests},
                       uncached={action_of[l].id for l in tests} if args.nocache_test_results else frozenset())
    store = Store(args.ws.cache_dir)
    results = []
    for label in tests:
        record = result.records[action_of[label].id]
        passed = record.status in (EXECUTED, CACHED)
        log = ""
        if record.log_digests:
            log = b"".join(store.get_bytes(d) or b"" for d in record.log_digests).decode("utf-8", "replace")
        elif record.error:
            log = record.error
        seconds = max(0.0, record.finished - record.started)
        results.append((label, passed, seconds, log))
        report.test_result(label, passed, record.status == CACHED, record.finished - record.started, log,
                           args.test_output == "all" or (args.test_output == "errors" and not passed))
    if args.junit:
        report.junit(Path(args.junit), results)
    passed = sum(1 for r in results if r[1])
    report.test_totals(passed, len(results) - passed)
    report.summary(result, args.started, "Test build")
    return 0 if passed == len(results) and result.ok else 1
