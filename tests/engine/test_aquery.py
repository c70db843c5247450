"""`wasmelt aquery`: the actions of the targets an expression denotes, with the key
a build gives them (unknown for an action whose inputs were never built)."""

from __future__ import annotations

import json
import re


def _ws(ws):
    ws.write("a/in.txt", "hello\n")
    ws.write("a/BUILD.toml", """
[[genrule]]
name = "leaf"
srcs = ["in.txt"]
outs = ["l"]
cmd = "cp $(SRCS) $(OUT)"

[[genrule]]
name = "top"
srcs = [":leaf"]
outs = ["t"]
cmd = "cat $(SRCS) > $(OUT)"
""")


def _explained_key(ws, label):
    return re.search(r"\(key ([0-9a-f]+)\)", ws.run("explain", label).out).group(1)


def test_actions_with_their_keys_as_the_build_computes_them(workspace):
    _ws(workspace)
    before = json.loads(workspace.run("aquery", "deps(//a:top)", "--output=json").out)
    assert [(a["owner"], a["mnemonic"]) for a in before] == [("//a:leaf", "Genrule"), ("//a:top", "Genrule")]
    leaf, top = before
    assert "a/in.txt" in leaf["inputs"] and leaf["outputs"] == ["wasmelt-out/a/leaf/l"]
    assert any("cp " in word for word in leaf["argv"])
    assert leaf["key"] and top["key"] is None  # top reads leaf's output, which was never built
    text = workspace.run("aquery", "//a:top").out
    assert text.startswith("action 'Genrule' of //a:top\n") and "key: not known until its inputs are built" in text

    assert workspace.run("build", "//a:top").code == 0
    after = {a["owner"]: a for a in json.loads(workspace.run("aquery", "//a:all", "--output=json").out)}
    assert after["//a:leaf"]["key"] == leaf["key"]
    for label in ("//a:leaf", "//a:top"):
        assert after[label]["key"].startswith(_explained_key(workspace, label))
    assert f"key: {after['//a:top']['key']}" in workspace.run("aquery", "//a:top").out

    workspace.write("a/in.txt", "changed\n")  # the key follows the source; top's waits for the rebuild
    edited = {a["owner"]: a for a in json.loads(workspace.run("aquery", "//a:all", "--output=json").out)}
    assert edited["//a:leaf"]["key"] != leaf["key"] and edited["//a:top"]["key"] is None


def test_aquery_errors_are_the_query_errors(workspace):
    _ws(workspace)
    run = workspace.run("aquery", "depz(//a:top)")
    assert run.code == 2 and run.err.startswith("ERROR: query `depz(//a:top)`, column 1: unknown function `depz` "
                                                "(did you mean `deps`?)"), run.err
