"""Negative patterns (`//... -//pkg/...`) for build, test, query and size, and the test
flags --test_filter, --nocache_test_results and --test_timeout, through the CLI."""

from __future__ import annotations

import pytest


def _packages(ws, broken: bool = True):
    for pkg in ("a", "c"):
        ws.write(f"{pkg}/in.txt", f"{pkg}\n")
        ws.write(f"{pkg}/BUILD.toml", """
            [[genrule]]
            name = "x"
            srcs = ["in.txt"]
            outs = ["x.txt"]
            cmd = "cp $(SRCS) $(OUT)"

            [[genrule]]
            name = "y"
            srcs = ["in.txt"]
            outs = ["y.txt"]
            cmd = "cp $(SRCS) $(OUT)"
        """)
    ws.write("b/BUILD.toml", "[[genrule]\nname = \n" if broken else """
        [[genrule]]
        name = "z"
        outs = ["z.txt"]
        cmd = "echo z > $(OUT)"
    """)


def built(ws) -> set[str]:
    out = ws.root / "wasmelt-out"
    return {f"{p.parent.parent.name}:{p.parent.name}" for p in out.glob("*/*/*.txt")}


def test_negative_patterns_remove_targets_and_skip_loading_packages(workspace):
    _packages(workspace)
    assert workspace.run("build", "//...").code == 2  # b/BUILD.toml is broken
    run = workspace.run("build", "//...", "-//b/...", "-//c:y")
    assert run.code == 0, run.err
    assert built(workspace) == {"a:x", "a:y", "c:x"}
    later = workspace.run("build", "//...", "-//b/...", "-//c/...", "//c:y", "-k")  # order counts; flags may follow
    assert later.code == 0, later.err
    assert later.counts["total"] == 3


def test_a_negative_pattern_first_is_an_error(workspace):
    _packages(workspace)
    run = workspace.run("build", "-//b/...", "//a:x")
    assert run.code == 2
    assert "ERROR: `-//b/...` removes targets from the patterns before it, and none comes first" in run.err
    assert "`//... -//b/...`" in run.err
    assert "unrecognized arguments: --bogus" in workspace.run("build", "//a:x", "-//b/...", "--bogus").err
    for argv in (["-//b/..."], ["info", "-//b/..."]):  # no command, or one that takes no patterns
        run = workspace.run(*argv)
        assert run.code == 2 and "unrecognized arguments: -//b/..." in run.err and "Traceback" not in run.err


def test_query_takes_negative_patterns_as_words_and_in_one_expression(workspace):
    _packages(workspace, broken=False)
    words = workspace.run("query", "//...", "-//c/...", "-//b:z")
    assert words.code == 0, words.err
    assert words.out.split() == ["//a:x", "//a:y"]
    one = workspace.run("query", "//... -//c/... -//b:z")
    assert one.out == words.out


def _firmware_test(ws, cases: str):
    ws.write("fw/add.wat", """
        (module
          (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add)
          (func (export "sub") (param i32 i32) (result i32) local.get 0 local.get 1 i32.sub))
    """)
    ws.write("fw/BUILD.toml", f"""
        [[component]]
        name = "add"
        srcs = ["add.wat"]

        [[synth]]
        name = "fw"
        src = ":add"
        cpu = "cortex-m4"

        [[firmware_test]]
        name = "fw_test"
        firmware = ":fw"
        cases = {cases}
    """)


CASES = '[{ call = "add", args = [1, 2], expect = [3] }, { call = "sub", args = [5, 3], expect = [2] }]'


def test_test_filter_runs_the_matching_cases_and_is_cached_apart(workspace):
    _firmware_test(workspace, CASES)
    every = workspace.run("test", "//fw:fw_test", "--test_output=all")
    assert every.code == 0, every.out + every.err
    assert "2 of 2 cases agree" in every.out
    only = workspace.run("test", "//fw:fw_test", "--test_output=all", "--test_filter=sub")
    assert only.code == 0, only.out + only.err
    assert "1 of 1 cases agree" in only.out and "1 case(s) left out by --test_filter=sub" in only.out
    assert "sub(5, 3)" in only.out and "add(1, 2)" not in only.out
    by_call = workspace.run("test", "//fw:fw_test", "--test_output=all", "--test_filter=add(1, *),nothing*")
    assert "add(1, 2)" in by_call.out and "sub(5, 3)" not in by_call.out
    again = workspace.run("test", "//fw:fw_test", "--test_filter=sub")
    assert "PASSED: //fw:fw_test (cached)" in again.out


def test_nocache_test_results_runs_the_test_again_but_nothing_else(workspace):
    _firmware_test(workspace, CASES)
    assert workspace.run("test", "//fw:fw_test").code == 0
    cached = workspace.run("test", "//fw:fw_test")
    assert "(cached)" in cached.out
    rerun = workspace.run("test", "//fw:fw_test", "--nocache_test_results")
    assert rerun.code == 0, rerun.err
    assert "PASSED: //fw:fw_test in " in rerun.out and "(cached)" not in rerun.out
    assert rerun.counts["executed"] == 1  # the test; the component and synth come from the cache


def test_test_timeout_kills_a_test_and_says_so(workspace):
    _firmware_test(workspace, CASES)
    assert workspace.run("build", "//fw:fw_test").code == 0
    slow = workspace.run("test", "//fw:fw_test", "--test_timeout=0.001")  # no interpreter starts that fast
    assert slow.code == 1
    assert "FAILED: //fw:fw_test" in slow.out
    assert "timed out" in slow.out + slow.err
    assert workspace.run("test", "//fw:fw_test", "--test_timeout=0").code == 2


@pytest.mark.parametrize("flag", ["-j banana", "--jobs=0", "--action_timeout=x", "--test_timeout=-1"])
def test_bad_numbers_are_refused(workspace, flag):
    run = workspace.run("test", "//fw:fw_test", *flag.split())
    assert run.code == 2
    assert "Traceback" not in run.err and flag.split("=")[0].split()[0].lstrip("-")[:4] in run.err
