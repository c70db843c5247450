"""wasmelt.argv_memo: a null build of an argv the parser accepted before skips
argparse; any other argv, or the same one with other code or another
interpreter, is parsed afresh."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from conftest import UP_TO_DATE, age_tree, settle

from wasmelt import argv_memo
from wasmelt.engine import trace

PROBE = ("import sys; from wasmelt.cli import main; code = main(sys.argv[1:]); "
         "print(code, 'argparse' in sys.modules, 'wasmelt.main' in sys.modules)")


def _settled(ws):
    ws.write("a/in.txt", "hello\n")
    ws.write("a/BUILD.toml", """
        [[genrule]]
        name = "upper"
        srcs = ["in.txt"]
        outs = ["upper.txt"]
        cmd = "tr a-z A-Z < $(SRCS) > $(OUT)"
    """)
    settle(ws)  # the last build parsed, answered, remembered


def _probe(ws, *argv):
    proc = subprocess.run([sys.executable, "-c", PROBE, *argv], cwd=ws.root, capture_output=True, text=True,
                          env={**os.environ, "WASMELT_CACHE": str(ws.cache)}, timeout=120)
    return proc.stdout.split(), proc.stderr


def test_the_same_argv_is_answered_without_the_parser_and_a_changed_flag_is_parsed_afresh(workspace):
    _settled(workspace)
    out, err = _probe(workspace, "build", "//...")
    assert out == ["0", "False", "False"] and UP_TO_DATE in err, err
    assert "Target //a:upper up-to-date" in err
    out, err = _probe(workspace, "build", "//...", "-q")  # another argv: parsed, and its flag obeyed
    assert out == ["0", "True", "True"] and UP_TO_DATE in err and "Target" not in err, err
    out, err = _probe(workspace, "build", "//...", "-q")  # now remembered too
    assert out == ["0", "False", "False"] and "Target" not in err, err
    run = workspace.run("build", "//...", "-j", "0")
    assert run.code == 2 and "argument -j/--jobs: must be at least 1, not '0'" in run.err
    run = workspace.run("build", "//...", "-v")  # not a plain build: the full path, which lists cached actions
    assert run.code == 0 and UP_TO_DATE not in run.err


def test_an_entry_holds_only_for_the_same_argv_code_and_interpreter(tmp_path, monkeypatch):
    (tmp_path / "trace").write_bytes(trace.SIGNATURE)  # the memo is the trace's `parsed` record
    code = tmp_path / "code"
    code.mkdir()
    (code / "main.py").write_text("PARSER = 1\n")
    age_tree(code)
    files = [str(code), str(code / "main.py")]
    argv = ["build", "//...", "-q"]
    argv_memo.remember(str(tmp_path), argv, ["//..."], True, "auto", files)
    assert argv_memo.recall(str(tmp_path), argv) == (["//..."], True, "auto")
    assert argv_memo.recall(str(tmp_path), ["build", "//..."]) is None
    monkeypatch.setattr(sys, "executable", "/another/python")
    assert argv_memo.recall(str(tmp_path), argv) is None
    monkeypatch.undo()
    (code / "main.py").write_text("PARSER = 22\n")  # the parser's code changed
    assert argv_memo.recall(str(tmp_path), argv) is None
    age_tree(code)
    argv_memo.remember(str(tmp_path), argv, ["//..."], True, "auto", files)
    assert argv_memo.recall(str(tmp_path), argv) is not None
    (code / "new.py").write_text("")  # a file beside it: the directory's stat changes
    assert argv_memo.recall(str(tmp_path), argv) is None


def test_code_modified_within_the_racy_window_is_not_remembered(tmp_path):
    (tmp_path / "trace").write_bytes(trace.SIGNATURE)
    code = tmp_path / "main.py"
    code.write_text("PARSER = 1\n")
    now = time.time_ns()
    os.utime(code, ns=(now, now))
    argv_memo.remember(str(tmp_path), ["build"], [], False, "auto", [str(code)])
    assert argv_memo.recall(str(tmp_path), ["build"]) is None


def test_a_long_lived_process_parses_an_argv_once_and_hands_out_copies(monkeypatch):
    from wasmelt import main

    argv = ["build", "//memo-test/...", "-//memo-test/skip:x", "-q", "-j", "3"]
    monkeypatch.setattr(main, "_parsed", {})
    first = main.parse(argv)
    assert first.patterns == ["//memo-test/...", "-//memo-test/skip:x"] and first.quiet and first.jobs == 3

    def no_parser(only=None):
        raise AssertionError("parsed again")

    monkeypatch.setattr(main, "make_parser", no_parser)
    first.patterns.append("//changed")  # what a command does to its namespace stays its own
    first.plan = "a plan"
    second = main.parse(argv)
    assert second is not first
    assert second.patterns == ["//memo-test/...", "-//memo-test/skip:x"] and not hasattr(second, "plan")
    with_other_flags = argv + ["-k"]
    try:
        main.parse(with_other_flags)
        raise AssertionError("another argv was not parsed")
    except AssertionError as e:
        assert str(e) == "parsed again"
