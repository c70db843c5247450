"""`wasmelt test`: build the test targets' inputs, run the tests (cached like
any action), print PASSED/FAILED per test and optionally a JUnit file."""

from __future__ import annotations

from pathlib import Path

from wasmelt import report

from .build import run_build
from .flags import build_flags


def add_parser(sub) -> None:
    t = sub.add_parser("test", help="build and run test targets", epilog="example: wasmelt test //examples/... --test_output=errors")
    build_flags(t)
    t.add_argument("--test_output", choices=["summary", "errors", "all"], default="errors",
                   help="print test logs: never, for failures (default), or always")
    t.add_argument("--junit", metavar="FILE", help="write a JUnit XML report")


def run(args) -> int:
    from wasmelt.engine.analysis import TestInfo
    from wasmelt.engine.errors import ConfigError
    from wasmelt.engine.executor import CACHED, EXECUTED
    from wasmelt.engine.store import Store

    p = args.plan
    infos = p.analysis.infos
    tests = [l for l in p.labels if TestInfo in infos[l]]
    action_of = {l: infos[l][TestInfo].action for l in tests}
    if not tests:
        raise ConfigError(f"no test targets match {' '.join(args.patterns)}")
    wanted = [a for l in tests for a in action_of[l].outputs]

    def test_events(events, result):
        for label in tests:
            record = result.records[action_of[label].id]
            events.test_result(str(label), record.status in (EXECUTED, CACHED), record.status == CACHED,
                               max(0.0, record.finished - record.started))

    result = run_build(args, p, wanted, quiet=True, keep_going=True, on_events=test_events,
                       reported_elsewhere={action_of[l].id for l in tests})
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
