"""The whole-build up-to-date check: a repeated build with nothing changed is
answered from a record of stats; every kind of change takes the full path."""

from __future__ import annotations

import os

from conftest import UP_TO_DATE, age_tree, settle


def _two_packages(ws, tool_dir=None):
    ws.write("a/in.txt", "hello\n")
    ws.write("a/BUILD.toml", """
        [[genrule]]
        name = "upper"
        srcs = ["in.txt"]
        outs = ["upper.txt"]
        cmd = "tr a-z A-Z < $(SRCS) > $(OUT)"
    """)
    ws.write("b/BUILD.toml", """
        [[genrule]]
        name = "framed"
        srcs = ["//a:upper"]
        outs = ["framed.txt"]
        cmd = "(echo '['; cat $(SRCS); echo ']') > $(OUT)"
    """)


def test_null_build_is_answered_without_loading(workspace):
    _two_packages(workspace)
    run = settle(workspace)
    assert run.counts == {"total": 2, "executed": 0, "cached": 2}
    # explain reports the last (null) build: everything reused
    explain = workspace.run("explain", "//b:framed")
    assert "cached" in explain.out


def test_prints_the_targets_like_a_full_build(workspace):
    _two_packages(workspace)
    run = settle(workspace, "//b:framed")
    assert "Target //b:framed up-to-date:\n  wasmelt-out/b/framed/framed.txt" in run.err


def test_edited_source_rebuilds(workspace):
    _two_packages(workspace)
    settle(workspace)
    workspace.write("a/in.txt", "world\n")  # same size
    run = workspace.run("build", "//...")
    assert run.counts["executed"] == 2 and UP_TO_DATE not in run.err
    assert workspace.read("wasmelt-out/b/framed/framed.txt") == "[\nWORLD\n]\n"


def test_deleted_output_is_restored(workspace):
    _two_packages(workspace)
    settle(workspace)
    (workspace.root / "wasmelt-out/b/framed/framed.txt").unlink()
    run = workspace.run("build", "//...")
    assert run.code == 0 and UP_TO_DATE not in run.err
    assert workspace.read("wasmelt-out/b/framed/framed.txt") == "[\nHELLO\n]\n"


def test_edited_output_is_restored(workspace):
    _two_packages(workspace)
    settle(workspace)
    (workspace.root / "wasmelt-out/a/upper/upper.txt").write_text("HELLX\n")
    run = workspace.run("build", "//...")
    assert run.code == 0 and UP_TO_DATE not in run.err
    assert workspace.read("wasmelt-out/a/upper/upper.txt") == "HELLO\n"


def test_edited_build_file_is_loaded_again(workspace):
    _two_packages(workspace)
    settle(workspace)
    text = workspace.read("b/BUILD.toml").replace("echo ']'", "echo '>'")
    (workspace.root / "b/BUILD.toml").write_text(text)
    run = workspace.run("build", "//...")
    assert run.counts["executed"] == 1
    assert workspace.read("wasmelt-out/b/framed/framed.txt") == "[\nHELLO\n>\n"


def test_new_package_under_a_recursive_pattern_is_built(workspace):
    _two_packages(workspace)
    settle(workspace)
    workspace.write("c/d/BUILD.toml", """
        [[genrule]]
        name = "new"
        outs = ["new.txt"]
        cmd = "echo new > $(OUT)"
    """)
    run = workspace.run("build", "//...")
    assert run.counts == {"total": 3, "executed": 1, "cached": 2}


def test_changed_tool_binary_rebuilds(workspace, tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tool = bin_dir / "mytool"
    tool.write_text("#!/bin/sh\necho one\n")
    tool.chmod(0o755)
    age_tree(bin_dir)
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    workspace.write("t/BUILD.toml", """
        [[genrule]]
        name = "t"
        outs = ["t.txt"]
        cmd = "mytool > $(OUT)"
        host_tools = ["mytool"]
    """)
    settle(workspace, env=env)
    tool.write_text("#!/bin/sh\necho two\n")
    run = workspace.run("build", "//...", env=env)
    assert run.counts["executed"] == 1 and UP_TO_DATE not in run.err
    assert workspace.read("wasmelt-out/t/t/t.txt") == "two\n"


def test_other_flags_and_patterns_take_the_full_path(workspace):
    _two_packages(workspace)
    settle(workspace)
    assert UP_TO_DATE not in workspace.run("build", "//a:upper").err  # another pattern: no record yet
    assert UP_TO_DATE not in workspace.run("build", "//...", "-v").err


def test_a_bad_flag_is_refused_by_the_parser_even_when_nothing_changed(workspace):
    _two_packages(workspace)
    settle(workspace)
    for flags, message in ((["-j", "banana"], "argument -j/--jobs: invalid number of jobs: 'banana'"),
                           (["--progress", "loud"], "argument --progress: invalid choice: 'loud'"),
                           (["--no_such_flag"], "unrecognized arguments: --no_such_flag")):
        run = workspace.run("build", "//...", *flags)
        assert run.code == 2 and message in run.err and UP_TO_DATE not in run.err, run.err
        assert run.err.startswith("usage: wasmelt") and "Traceback" not in run.err
    assert UP_TO_DATE in workspace.run("build", "//...", "-j", "3", "-k", "--sandbox", "directory").err


def test_the_answer_is_recorded_in_the_trace_not_a_manifest_of_its_own(workspace):
    from wasmelt.engine.client import records_path

    _two_packages(workspace)
    settle(workspace)
    records = records_path(str(workspace.cache), str(workspace.root.resolve()))
    assert sorted(os.listdir(records)) == ["lock", "trace"]
    explain = workspace.run("explain", "//a:upper")
    assert explain.out.splitlines()[1] == f"  {UP_TO_DATE}"
