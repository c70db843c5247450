"""`tags = ["manual"]`: a target that wildcards skip and naming builds."""

from __future__ import annotations

import shutil

from tests.conftest import REPO


def _manual_package(ws):
    ws.write("p/BUILD.toml", """
        [[genrule]]
        name = "slow"
        outs = ["slow.txt"]
        cmd = "echo slow > $(OUT)"
        tags = ["manual", "slow"]

        [[genrule]]
        name = "fast"
        outs = ["fast.txt"]
        cmd = "echo fast > $(OUT)"
        tags = ["fast"]
    """)


def test_manual_targets_stay_out_of_every_wildcard(workspace):
    _manual_package(workspace)
    for pattern in ("//...", "//p/...", "//p:all", "p:all"):
        run = workspace.run("build", pattern)
        assert run.code == 0, run.err
        assert (workspace.root / "wasmelt-out/p/fast/fast.txt").exists()
        assert not (workspace.root / "wasmelt-out/p/slow").exists(), pattern
    assert workspace.run("query", "//...").out.split() == ["//p:fast"]


def test_a_manual_target_named_explicitly_builds(workspace):
    _manual_package(workspace)
    run = workspace.run("build", "//p:slow")
    assert run.code == 0, run.err
    assert run.executed() == 1
    assert workspace.read("wasmelt-out/p/slow/slow.txt") == "slow\n"


def test_a_manual_target_that_a_wildcard_target_depends_on_still_builds(workspace):
    workspace.write("p/BUILD.toml", """
        [[genrule]]
        name = "gen"
        outs = ["gen.txt"]
        cmd = "echo gen > $(OUT)"
        tags = ["manual"]

        [[genrule]]
        name = "use"
        srcs = [":gen"]
        outs = ["use.txt"]
        cmd = "cp $(SRCS) $(OUT)"
    """)
    run = workspace.run("build", "//...")
    assert run.code == 0, run.err
    assert workspace.read("wasmelt-out/p/use/use.txt") == "gen\n"


def test_tags_must_be_a_list_of_strings(workspace):
    workspace.write("p/BUILD.toml", """
        [[genrule]]
        name = "x"
        outs = ["x"]
        cmd = "true"
        tags = "manual"
    """)
    run = workspace.run("build", "//p:x")
    assert run.code == 2
    assert "p/BUILD.toml" in run.err and "`tags`" in run.err and "Traceback" not in run.err


def test_the_repository_builds_with_its_root_wildcard(tmp_path):
    """`examples/grow` fails on purpose; its manual tag keeps `//...` green."""
    ws = tmp_path / "repo"
    ws.mkdir()
    shutil.copy(REPO / "BUILD.toml", ws)
    shutil.copytree(REPO / "examples", ws / "examples")
    from tests.conftest import Workspace

    run = Workspace(ws, tmp_path / "cache").run("build", "//...")
    assert run.code == 0, run.err
    assert not (ws / "wasmelt-out/examples/grow").exists()
    assert (ws / "wasmelt-out/examples/app/firmware/firmware.o").exists()
    failed = Workspace(ws, tmp_path / "cache").run("build", "//examples/grow")
    assert failed.code == 1 and "grows its memory" in failed.err
