"""The query language through `wasmelt query`, against a small workspace whose answers
are known; the parser in-process; the errors' messages."""

from __future__ import annotations

import json
import tomllib

import pytest

from wasmelt.engine.query_lang import Call, SetOp, Word, parse


def _ws(ws):
    ws.write("a/BUILD.toml", """
[[genrule]]
name = "leaf"
outs = ["l"]
cmd = "echo leaf > $(OUT)"
tags = ["low"]

[[genrule]]
name = "other"
outs = ["o"]
cmd = "echo other > $(OUT)"
""")
    ws.write("b/BUILD.toml", """
[[genrule]]
name = "mid"
srcs = ["//a:leaf"]
outs = ["m"]
cmd = "cp $(SRCS) $(OUT)"

[[genrule]]
name = "top"
srcs = [":mid", "//a:other"]
outs = ["t"]
cmd = "cat $(SRCS) > $(OUT)"

[[firmware_test]]
name = "check"
firmware = ":top"
cases = [{ call = "f", args = [1, -2], expect = [3] }, { call = "g", trap = "unreachable" }]
""")
    return ws


def q(ws, expr, *flags):
    run = ws.run("query", expr, *flags)
    assert run.code == 0, run.err
    return run.out.split()


ALL = ["//a:leaf", "//a:other", "//b:check", "//b:mid", "//b:top"]


@pytest.mark.parametrize("expr, expected", [
    ("//...", ALL),
    ("//b:all", ["//b:check", "//b:mid", "//b:top"]),
    ("deps(//b:top)", ["//a:leaf", "//a:other", "//b:mid", "//b:top"]),
    ("deps(//b:top, 1)", ["//a:other", "//b:mid", "//b:top"]),
    ("deps(//b:top, 0)", ["//b:top"]),
    ("rdeps(//..., //a:leaf)", ["//a:leaf", "//b:check", "//b:mid", "//b:top"]),
    ("rdeps(//..., //a:leaf, 1)", ["//a:leaf", "//b:mid"]),
    ("rdeps(//b:mid, //a:leaf)", ["//a:leaf", "//b:mid"]),
    ("allpaths(//b:check, //a:leaf)", ["//a:leaf", "//b:check", "//b:mid", "//b:top"]),
    ("allpaths(//b:mid, //a:other)", []),
    ("somepath(//b:check, //a:leaf)", ["//b:check", "//b:top", "//b:mid", "//a:leaf"]),
    ("kind(genrule, //...)", ["//a:leaf", "//a:other", "//b:mid", "//b:top"]),
    ("kind('^firmware_', //...)", ["//b:check"]),
    ("kind('gen(rule)?$', //b:all)", ["//b:mid", "//b:top"]),
    ("attr(tags, low, //...)", ["//a:leaf"]),
    ("attr(srcs, '//a:other', //...)", ["//b:top"]),
    ("attr(cmd, '^cp ', //...)", ["//b:mid"]),
    ("filter('other$', //...)", ["//a:other"]),
    ("filter(mid, deps(//b:top))", ["//b:mid"]),
    ("labels(srcs, //b:top)", ["//a:other", "//b:mid"]),
    ("labels(firmware, //b:check)", ["//b:top"]),
    ("tests(//...)", ["//b:check"]),
    ("buildfiles(deps(//b:mid))", ["//a:BUILD.toml", "//b:BUILD.toml"]),
    ("siblings(//a:leaf)", ["//a:leaf", "//a:other"]),
    ("deps(//b:top) + //b:check", ALL),
    ("deps(//b:top) union //b:check", ALL),
    ("//... - //b:all", ["//a:leaf", "//a:other"]),
    ("//... except deps(//b:mid)", ["//a:other", "//b:check", "//b:top"]),
    ("//... ^ //a:all", ["//a:leaf", "//a:other"]),
    ("deps(//b:mid) intersect //a:all", ["//a:leaf"]),
    ("//... - //a:all + //a:leaf", ["//a:leaf", "//b:check", "//b:mid", "//b:top"]),  # left to right
    ("//... - (//a:all + //a:leaf)", ["//b:check", "//b:mid", "//b:top"]),
    ("let t = deps(//b:top) in $t ^ //a:all", ["//a:leaf", "//a:other"]),
    ('"//a:leaf" + \'//a:other\'', ["//a:leaf", "//a:other"]),
])
def test_expression(workspace, expr, expected):
    _ws(workspace)
    assert q(workspace, expr) == expected


def test_relative_labels_from_a_package_directory(workspace):
    _ws(workspace)
    run = workspace.run("query", "deps(:mid) - :mid", cwd=workspace.root / "b")
    assert run.code == 0, run.err
    assert run.out.split() == ["//a:leaf"]


def test_outputs(workspace):
    _ws(workspace)
    assert workspace.run("query", "deps(//b:mid) + buildfiles(//a:leaf)", "--output=label_kind").out.splitlines() == [
        "source file //a:BUILD.toml", "genrule //a:leaf", "genrule //b:mid"]
    dot = workspace.run("query", "deps(//b:top, 1)", "--output=graph")
    assert dot.code == 0 and dot.out.startswith("digraph")
    assert '"//b:top" -> "//b:mid";' in dot.out and '"//b:mid" -> "//a:leaf"' not in dot.out  # only the result's edges
    rows = json.loads(workspace.run("query", "//b:mid", "--output=json").out)
    assert rows == [{"label": "//b:mid", "kind": "genrule", "build_file": "b/BUILD.toml", "deps": ["//a:leaf"],
                     "attrs": {"name": "mid", "srcs": ["//a:leaf"], "outs": ["m"], "cmd": "cp $(SRCS) $(OUT)"}}]
    build = workspace.run("query", "//b:mid + //a:leaf + //b:check", "--output=build").out
    written = tomllib.loads(build)
    a, b = (tomllib.loads(workspace.read(f"{p}/BUILD.toml")) for p in "ab")
    assert written == {"genrule": a["genrule"][:1] + b["genrule"][:1], "firmware_test": b["firmware_test"]}


@pytest.mark.parametrize("expr, message", [
    ("kinds(genrule, //...)", "column 1: unknown function `kinds` (did you mean `kind`?)"),
    ("deps(//b:top, 1, 2)", "column 1: deps() takes 1 or 2 arguments, got 3: deps(targets, [depth])"),
    ("somepath(//b:top)", "column 1: somepath() takes 2 arguments, got 1"),
    ("deps(//b:top, x)", "column 15: deps(): the depth must be a whole number, not `x`"),
    ("deps(//b:top", "column 5: unbalanced parentheses: `deps(` is not closed"),
    ("(//a:all + //b:all", "column 1: unbalanced parentheses: this `(` is not closed"),
    ("//a:all)", "column 8: unexpected `)` (a `)` without its `(`)"),
    ("//a:all //b:all", "column 9: unexpected `//b:all` (join sets with +, -, ^)"),
    ("$x + //a:all", "column 1: undefined variable `$x`"),
    ("let x = //a:all $x", "column 17: expected `in` after `let x = ...`"),
    ("let = //a:all in //a:all", "column 5: expected a variable name after `let`, found `=`"),
    ("deps()", "column 1: deps() takes 1 or 2 arguments, got 0"),
    ("kind(deps(//a:leaf), //...)", "column 1: kind(): argument 1 must be a word, not an expression: kind(pattern, targets)"),
    ("attr(cmdd, x, //...)", "column 6: attr(): no rule kind has an attribute `cmdd` (did you mean `cmd`?)"),
    ("filter('(', //...)", "column 8: filter(): `(` is not a regular expression"),
    ("deps(//a:leef)", "column 6: unknown target `//a:leef` (did you mean `leaf`?)"),
    ("'//a:leaf", "column 1: unterminated quoted word"),
    ("//a:leaf + ", "column 12: expected a target pattern, a function or `(`, found the end of the expression"),
])
def test_errors_name_the_column(workspace, expr, message):
    _ws(workspace)
    run = workspace.run("query", expr)
    assert run.code == 2, run.err
    assert run.err.startswith("ERROR: ") and "Traceback" not in run.err
    assert f"query `{expr}`" in run.err and message in run.err, run.err


def test_parser_in_process():
    tree = parse("deps(//a:b, 2) - kind('gen.*', //...) ^ x")
    assert tree == SetOp("intersect", SetOp("except", Call("deps", (Word("//a:b", 6), Word("2", 13)), 1),
                                            Call("kind", (Word("gen.*", 23), Word("//...", 32)), 18)), Word("x", 41))
    assert parse("my-target") == Word("my-target", 1)  # a `-` inside a word is part of it


def test_help_examples_run_as_printed(tmp_path):
    """Every `wasmelt query '...'` line of query's --help, run in this repository's workspace."""
    import os
    import re
    import shlex
    import subprocess
    import sys

    from conftest import REPO
    from wasmelt.commands.query import EXAMPLES

    lines = [line.split("|")[0] for line in EXAMPLES.splitlines() if line.strip().startswith("wasmelt query")]
    assert len(lines) >= 6
    for line in lines:
        argv = shlex.split(re.split(r"\s{2,}", line.strip())[0])  # the comment after two spaces dropped
        run = subprocess.run([sys.executable, "-m", "wasmelt", *argv[1:]], cwd=REPO, capture_output=True, text=True,
                             env={**os.environ, "WASMELT_CACHE": str(tmp_path)})
        assert run.returncode == 0 and run.stdout.strip(), (line, run.stderr)
