"""Building genrules through the CLI: caching, incrementality, early cutoff,
parallelism and the sandbox."""

from __future__ import annotations

import os
import time


def _chain(ws):
    ws.write("pkg/in.txt", "hello world\n")
    ws.write("pkg/BUILD.toml", """
        [[genrule]]
        name = "upper"
        srcs = ["in.txt"]
        outs = ["upper.txt"]
        cmd = "tr a-z A-Z < $(SRCS) > $(OUT)"

        [[genrule]]
        name = "first_word"
        srcs = [":upper"]
        outs = ["word.txt"]
        cmd = "cut -d' ' -f1 $(SRCS) > $(OUT)"

        [[genrule]]
        name = "framed"
        srcs = [":first_word"]
        outs = ["framed.txt"]
        cmd = "(echo '['; cat $(SRCS); echo ']') > $(OUT)"

        [[genrule]]
        name = "other"
        srcs = ["other.txt"]
        outs = ["other.out"]
        cmd = "cp $(SRCS) $(OUT)"
    """)
    ws.write("pkg/other.txt", "x\n")


def test_first_build_executes_all_and_second_executes_none(workspace):
    _chain(workspace)
    first = workspace.run("build", "//...")
    assert first.code == 0, first.err
    assert first.counts == {"total": 4, "executed": 4, "cached": 0}
    assert workspace.read("wasmelt-out/pkg/framed/framed.txt") == "[\nHELLO\n]\n"
    second = workspace.run("build", "//...")
    assert second.code == 0
    assert second.counts == {"total": 4, "executed": 0, "cached": 4}


def test_outputs_are_readable_by_everyone_whether_built_or_restored(workspace):
    _chain(workspace)
    assert workspace.run("build", "//...").code == 0
    out = workspace.root / "wasmelt-out/pkg/framed/framed.txt"
    assert out.stat().st_mode & 0o777 == 0o644
    out.unlink()
    assert workspace.run("build", "//...").counts["cached"] == 4
    assert out.stat().st_mode & 0o777 == 0o644


def test_touched_but_unchanged_source_executes_nothing(workspace):
    _chain(workspace)
    assert workspace.run("build", "//...").code == 0
    src = workspace.root / "pkg/in.txt"
    later = time.time_ns() + 5_000_000_000
    os.utime(src, ns=(later, later))
    run = workspace.run("build", "//...")
    assert run.counts["executed"] == 0


def test_leaf_edit_reruns_only_downstream(workspace):
    _chain(workspace)
    assert workspace.run("build", "//...").code == 0
    workspace.write("pkg/other.txt", "changed\n")
    run = workspace.run("build", "//...")
    assert run.counts == {"total": 4, "executed": 1, "cached": 3}
    assert workspace.read("wasmelt-out/pkg/other/other.out") == "changed\n"


def test_byte_identical_intermediate_cuts_the_rebuild_off(workspace):
    _chain(workspace)
    assert workspace.run("build", "//pkg:framed").code == 0
    # Changes the second word only: `upper` reruns and differs, `first_word`
    # reruns and comes out identical, so `framed` is a cache hit.
    workspace.write("pkg/in.txt", "hello there\n")
    run = workspace.run("build", "//pkg:framed")
    assert run.counts == {"total": 3, "executed": 2, "cached": 1}
    explain = workspace.run("explain", "//pkg:framed")
    assert "cached" in explain.out
    explain = workspace.run("explain", "//pkg:first_word")
    assert "input `wasmelt-out/pkg/upper/upper.txt` changed" in explain.out


def test_jobs_2_runs_independent_actions_concurrently(workspace, tmp_path):
    rendezvous = tmp_path / "rendezvous"
    rendezvous.mkdir()
    # Each action announces itself and waits (bounded) for the other: only
    # concurrent execution lets both finish.
    cmd = ("touch {dir}/{me}; i=0; while [ ! -e {dir}/{other} ] && [ $i -lt 200 ]; do sleep 0.05; i=$$((i+1)); done; "
           "test -e {dir}/{other} && echo ok > $(OUT)")
    workspace.write("p/BUILD.toml", f"""
        [[genrule]]
        name = "a"
        outs = ["a"]
        cmd = "{cmd.format(dir=rendezvous, me='a', other='b')}"

        [[genrule]]
        name = "b"
        outs = ["b"]
        cmd = "{cmd.format(dir=rendezvous, me='b', other='a')}"
    """)
    # The rendezvous is a host directory: only the directory sandbox shows it.
    run = workspace.run("build", "//p:all", "--jobs", "2", "--sandbox=directory")
    assert run.code == 0, run.err
    assert run.counts["executed"] == 2


def test_sandbox_holds_only_declared_inputs(workspace):
    workspace.write("p/declared.txt", "yes\n")
    workspace.write("p/undeclared.txt", "secret\n")
    workspace.write("p/BUILD.toml", """
        [[genrule]]
        name = "sneaky"
        srcs = ["declared.txt"]
        outs = ["out.txt"]
        cmd = "cat p/declared.txt p/undeclared.txt > $(OUT)"
    """)
    run = workspace.run("build", "//p:sneaky")
    assert run.code == 1
    assert "undeclared.txt" in run.err and "No such file" in run.err


def test_output_edited_by_user_does_not_corrupt_cache(workspace):
    _chain(workspace)
    assert workspace.run("build", "//pkg:upper").code == 0
    (workspace.root / "wasmelt-out/pkg/upper/upper.txt").write_text("tampered\n")
    run = workspace.run("build", "//pkg:upper")
    assert run.counts["cached"] == 1
    assert workspace.read("wasmelt-out/pkg/upper/upper.txt") == "HELLO WORLD\n"


def test_keep_going_builds_independent_targets(workspace):
    workspace.write("p/BUILD.toml", """
        [[genrule]]
        name = "bad"
        outs = ["bad"]
        cmd = "exit 3"

        [[genrule]]
        name = "after_bad"
        srcs = [":bad"]
        outs = ["after"]
        cmd = "cp $(SRCS) $(OUT)"

        [[genrule]]
        name = "good"
        outs = ["good"]
        cmd = "echo good > $(OUT)"
    """)
    run = workspace.run("build", "//p:all", "--keep_going", "-j", "1")
    assert run.code == 1
    assert run.counts["failed"] == 1 and run.counts["skipped"] == 1 and run.counts["executed"] == 1
    assert workspace.read("wasmelt-out/p/good/good") == "good\n"


def test_keys_do_not_depend_on_checkout_path(workspace, tmp_path):
    _chain(workspace)
    assert workspace.run("build", "//...").code == 0
    import shutil

    from conftest import Workspace

    other = Workspace(tmp_path / "elsewhere" / "ws2", workspace.cache)
    shutil.copytree(workspace.root, other.root, ignore=shutil.ignore_patterns("wasmelt-out"))
    run = other.run("build", "//...")
    assert run.counts == {"total": 4, "executed": 0, "cached": 4}


def test_clean_and_expunge(workspace):
    _chain(workspace)
    assert workspace.run("build", "//...").code == 0
    assert workspace.run("clean").code == 0
    assert not (workspace.root / "wasmelt-out").exists()
    assert workspace.run("build", "//...").counts["cached"] == 4
    assert workspace.run("clean", "--expunge").code == 0
    assert workspace.run("build", "//...").counts["executed"] == 4
