"""What a long-lived process (the server) keeps between commands: loaded
packages and analysis results, reused only while nothing they read changed."""

from __future__ import annotations

import os
import time

import pytest

from conftest import age_tree
from test_uptodate import _two_packages


@pytest.fixture
def memos():
    from wasmelt import rules  # noqa: F401
    from wasmelt.engine.memo import Memo

    memo = Memo()
    return memo.packages, memo.analysis, memo


def _age_one(path, seconds: float = 10) -> None:
    then = time.time_ns() - int(seconds * 1e9)
    os.utime(path, ns=(then, then))


def _plan(workspace, memos=None):
    from wasmelt.engine.session import plan
    from wasmelt.engine.workspace import find_workspace

    return plan(find_workspace(workspace.root), ["//..."], memo=memos[2] if memos else None)


def _cmd(p, owner: str) -> str:
    return next(a for a in p.analysis.all_actions if str(a.owner) == owner).argv[-1]


def test_an_edited_build_file_reloads_only_its_package(workspace, memos):
    packages, analysis, _ = memos
    _two_packages(workspace)
    age_tree(workspace.root)
    first = _plan(workspace, memos)
    assert packages.reused == 0 and analysis.reused == 0
    second = _plan(workspace, memos)
    assert packages.reused == 3  # the root package, a and b
    assert analysis.reused == 2
    assert second.analysis.all_actions[0] is first.analysis.all_actions[0]
    build_file = workspace.root / "b/BUILD.toml"
    build_file.write_text(workspace.read("b/BUILD.toml").replace("echo ']'", "echo '>'"))
    _age_one(build_file)
    third = _plan(workspace, memos)
    assert packages.reused == 3 + 2  # b was read again
    assert analysis.reused == 2 + 1  # //a:upper reused, //b:framed analysed again
    assert "echo '>'" in _cmd(third, "//b:framed")


def test_a_deleted_source_is_reported_even_when_its_package_is_kept(workspace, memos):
    from wasmelt.engine.errors import ConfigError

    _two_packages(workspace)
    age_tree(workspace.root)
    _plan(workspace, memos)
    (workspace.root / "a/in.txt").unlink()
    with pytest.raises(ConfigError, match="does not exist"):
        _plan(workspace, memos)


def test_a_recently_written_build_file_is_not_kept(workspace, memos):
    packages, _, _ = memos
    _two_packages(workspace)  # just written: racily clean
    _plan(workspace, memos)
    _plan(workspace, memos)
    assert packages.reused == 0


def test_changed_settings_drop_the_analysis(workspace, memos):
    _, analysis, _ = memos
    _two_packages(workspace)
    age_tree(workspace.root)
    _plan(workspace, memos)
    _age_one(workspace.write("BUILD.toml", '[workspace]\nname = "renamed"\n'))
    _plan(workspace, memos)
    assert analysis.reused == 0


def test_parsed_build_files_are_kept_and_an_edit_is_parsed_again(workspace, tmp_path, monkeypatch):
    from wasmelt import rules  # noqa: F401  (registers genrule: this test may run first in its process)

    monkeypatch.setenv("WASMELT_CACHE", str(tmp_path / "cache"))
    _two_packages(workspace)
    age_tree(workspace.root)
    _plan(workspace)
    from wasmelt.engine.trace import Trace

    kept = list((tmp_path / "cache").rglob("trace"))
    assert kept and any(w.endswith("b/BUILD.toml") for w in Trace(kept[0].parent).build_files)
    build_file = workspace.root / "b/BUILD.toml"
    build_file.write_text(workspace.read("b/BUILD.toml").replace("echo ']'", "echo '>'"))  # same size
    _age_one(build_file, seconds=5)
    assert "echo '>'" in _cmd(_plan(workspace), "//b:framed")


def test_analysis_runs_no_program_and_tools_are_resolved_once(workspace, memos, tmp_path, monkeypatch):
    """Tool identities are resolved before analysis, once per request, and kept
    by the server's memo; a rule's analyze runs no subprocess."""
    import subprocess

    from wasmelt.engine.registry import rule_kinds

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tool = bin_dir / "mytool"
    tool.write_text("#!/bin/sh\necho mytool 1.0\n")
    tool.chmod(0o755)
    _age_one(tool)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    for name in ("a", "b", "c"):
        workspace.write(f"{name}/BUILD.toml", f"""
            [[genrule]]
            name = "{name}"
            outs = ["{name}.txt"]
            cmd = "mytool > $(OUT)"
            host_tools = ["mytool"]
        """)
    age_tree(workspace.root)  # packages written just now are not kept (racy)
    genrule = rule_kinds()["genrule"]
    real_analyze = genrule.analyze
    calls = []

    def no_programs(*args, **kwargs):
        raise AssertionError(f"analysis ran a program: {args[0] if args else kwargs}")

    def analyze(ctx):
        calls.append(ctx.label)
        with monkeypatch.context() as m:
            m.setattr(subprocess, "run", no_programs)
            m.setattr(subprocess, "Popen", no_programs)
            return real_analyze(ctx)

    import dataclasses

    from wasmelt.engine import registry

    monkeypatch.setitem(registry._RULES, "genrule", dataclasses.replace(genrule, analyze=analyze))
    _, analysis, _ = memos
    p = _plan(workspace, memos)
    assert len(calls) == 3
    assert analysis.tools.resolved == 1  # one request: /bin/sh and mytool, for all three targets
    refs = {a.owner.name: {t.name: t.version for t in a.tools} for a in p.analysis.all_actions}
    assert refs["a"]["mytool"] == "mytool 1.0" and refs["a"] == refs["b"] == refs["c"]
    _plan(workspace, memos)
    assert analysis.tools.resolved == 1 and len(calls) == 3  # the server's next command: nothing resolved or analysed
    tool.write_text("#!/bin/sh\necho mytool 2.0\n")
    p = _plan(workspace, memos)
    assert analysis.tools.resolved == 2 and len(calls) == 6  # a changed tool: resolved again, targets analysed again
    assert {t.version for a in p.analysis.all_actions for t in a.tools if t.name == "mytool"} == {"mytool 2.0"}


def test_a_missing_tool_names_the_target(workspace):
    workspace.write("t/BUILD.toml", """
        [[genrule]]
        name = "t"
        outs = ["t.txt"]
        cmd = "nosuchtool > $(OUT)"
        host_tools = ["nosuchtool-xyz"]
    """)
    run = workspace.run("build", "//t:t")
    assert run.code == 2 and "ERROR: t/BUILD.toml: target `t`: `nosuchtool-xyz` is not installed or not on PATH" in run.err


def test_the_last_build_record_comes_from_memory_only_while_nobody_wrote_the_trace(workspace, memos, monkeypatch):
    from wasmelt.engine import rebuild
    from wasmelt.engine.trace import Trace, last_build
    from wasmelt.engine.workspace import find_workspace, records_dir

    _, _, memo = memos
    monkeypatch.setenv("WASMELT_CACHE", str(workspace.cache))
    _two_packages(workspace)
    assert workspace.run("build", "//...").code == 0
    ws = find_workspace(workspace.root)
    records = str(records_dir(ws))
    trace = memo.trace_for(ws)
    assert memo.holds(rebuild.stat_of(trace.path))
    assert memo.last_record(records, rebuild.stat_of(trace.path)) == (trace.build, trace.up_to_date)
    assert workspace.run("build", "//...").code == 0  # another process writes the trace
    assert not memo.holds(rebuild.stat_of(trace.path))
    assert memo.last_record(records, rebuild.stat_of(trace.path)) == last_build(records)  # read again
    assert last_build(records)[0] == Trace(records).build


def test_the_workspace_table_is_parsed_once_per_text_and_handed_out_as_copies(tmp_path, monkeypatch):
    from wasmelt.engine import workspace

    root = tmp_path / "ws"
    root.mkdir()
    (root / "BUILD.toml").write_text('[workspace]\nname = "memo"\nserver = true\nlimits = ["a"]\n')
    monkeypatch.setattr(workspace, "_tables", {})
    first = workspace.find_workspace(root).settings
    assert first == {"name": "memo", "server": True, "limits": ["a"]}
    first["limits"].append("changed")  # a command's copy is its own

    def no_parser(text, where):
        raise AssertionError("parsed again")

    real = workspace.parse_toml
    monkeypatch.setattr(workspace, "parse_toml", no_parser)
    assert workspace.find_workspace(root).settings == {"name": "memo", "server": True, "limits": ["a"]}
    monkeypatch.setattr(workspace, "parse_toml", real)
    (root / "BUILD.toml").write_text('[workspace]\nname = "edited"\n')  # another text: parsed
    assert workspace.find_workspace(root).settings == {"name": "edited"}
