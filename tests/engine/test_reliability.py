"""Faults and hostile input: killed builds, torn cache files, concurrent
builds, sources edited mid-action, tools that hang, crash or stray."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import Workspace

N_TARGETS = 12


def _many(ws: Workspace, sleep: str = "0.02") -> None:
    for i in range(N_TARGETS):
        ws.write(f"p{i % 3}/s{i}.txt", f"source {i}\n")
    for pkg in range(3):
        tables = []
        for i in range(pkg, N_TARGETS, 3):
            dep = f', "//p{(i - 1) % 3}:t{i - 1}"' if i else ""
            tables.append(f'[[genrule]]\nname = "t{i}"\nsrcs = ["s{i}.txt"{dep}]\nouts = ["o{i}.txt"]\n'
                          f'cmd = "sleep {sleep}; cat $(SRCS) > $(OUT)"\n')
        ws.write(f"p{pkg}/BUILD.toml", "\n".join(tables))


def _expected(i: int) -> str:
    return "".join(f"source {j}\n" for j in range(i, -1, -1))


def kill_and_resume(ws: Workspace, kill_points: int, seed: int) -> int:
    """Kill -9 builds at seeded random moments; each time the next build must
    finish, reuse work and leave a cache that verifies. Returns kills survived."""
    rng = random.Random(seed)
    env = {**os.environ, "WASMELT_CACHE": str(ws.cache)}
    survived = 0
    for point in range(kill_points):
        subprocess.run([sys.executable, "-m", "wasmelt", "clean"], cwd=ws.root, env=env, capture_output=True)
        if point % 2:  # every other round starts from an empty cache
            subprocess.run([sys.executable, "-m", "wasmelt", "clean", "--expunge"], cwd=ws.root, env=env, capture_output=True)
        proc = subprocess.Popen([sys.executable, "-m", "wasmelt", "build", "//...", "-j", "2"], cwd=ws.root, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        time.sleep(rng.uniform(0.2, 1.2))
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
        run = ws.run("build", "//...")
        assert run.code == 0, run.err
        for i in range(N_TARGETS):
            assert ws.read(f"wasmelt-out/p{i % 3}/t{i}/o{i}.txt") == _expected(i)
        verify = ws.run("cache", "verify")
        assert verify.code == 0 and "0 damaged" in verify.out, verify.out
        survived += 1
    return survived


def test_killed_builds_resume_with_an_intact_cache(workspace):
    _many(workspace)
    assert kill_and_resume(workspace, kill_points=3, seed=7) == 3


def test_torn_cache_files_are_detected_and_discarded(workspace):
    _many(workspace, sleep="0")
    assert workspace.run("build", "//...").code == 0
    blobs = sorted(p for p in (workspace.cache / "cas").glob("*/*"))
    entries = sorted(p for p in (workspace.cache / "ac").glob("*/*"))
    blobs[0].write_bytes(blobs[0].read_bytes()[:-1] + b"X")
    entries[0].write_bytes(entries[0].read_bytes()[: len(entries[0].read_bytes()) // 2])
    run = workspace.run("clean")
    run = workspace.run("build", "//...")
    assert run.code == 0
    for i in range(N_TARGETS):
        assert workspace.read(f"wasmelt-out/p{i % 3}/t{i}/o{i}.txt") == _expected(i)
    assert run.counts["executed"] >= 1
    verify = workspace.run("cache", "verify")
    assert verify.code == 0, verify.out


def test_cache_verify_reports_damage(workspace):
    _many(workspace, sleep="0")
    assert workspace.run("build", "//...").code == 0
    blob = sorted((workspace.cache / "cas").glob("*/*"))[0]
    blob.write_bytes(b"not what the digest says")
    run = workspace.run("cache", "verify")
    assert run.code == 1 and "1 damaged" in run.out
    assert workspace.run("cache", "verify").code == 0  # the damaged blob was removed


def test_cache_gc_evicts_least_recently_used(workspace):
    _many(workspace, sleep="0")
    assert workspace.run("build", "//...").code == 0
    run = workspace.run("cache", "gc", "--max-size", "0")
    assert run.code == 0 and "evicted" in run.out
    assert workspace.run("clean").code == 0
    assert workspace.run("build", "//...").counts["executed"] == N_TARGETS
    run = workspace.run("cache", "gc", "--max-size", "1G")
    assert "evicted 0 action entries" in run.out
    assert workspace.run("clean").code == 0
    assert workspace.run("build", "//...").counts["cached"] == N_TARGETS


def test_two_builds_at_once_share_the_workspace_safely(workspace):
    _many(workspace, sleep="0.05")
    env = {**os.environ, "WASMELT_CACHE": str(workspace.cache)}
    procs = [subprocess.Popen([sys.executable, "-m", "wasmelt", "build", "//..."], cwd=workspace.root, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    assert any("waiting for it to finish" in err for _, err in outs)
    for i in range(N_TARGETS):
        assert workspace.read(f"wasmelt-out/p{i % 3}/t{i}/o{i}.txt") == _expected(i)


def test_one_cache_shared_by_two_workspaces(tmp_path):
    cache = tmp_path / "shared-cache"
    spaces = [Workspace(tmp_path / f"ws{n}", cache) for n in range(2)]
    for ws in spaces:
        ws.write("BUILD.toml", "[workspace]\n")
        _many(ws, sleep="0.02")
    env = {**os.environ, "WASMELT_CACHE": str(cache)}
    procs = [subprocess.Popen([sys.executable, "-m", "wasmelt", "build", "//..."], cwd=ws.root, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for ws in spaces]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    for ws in spaces:
        assert ws.read("wasmelt-out/p2/t11/o11.txt") == _expected(11)
    assert spaces[0].run("cache", "verify").code == 0


def test_source_edited_while_its_action_runs_is_not_cached(workspace):
    src = workspace.write("p/in.txt", "before\n")
    workspace.write("p/BUILD.toml", f"""
        [[genrule]]
        name = "racy"
        srcs = ["in.txt"]
        outs = ["out.txt"]
        cmd = "cat $(SRCS) > $(OUT); echo during >> {src}"
    """)
    # The action stands in for an editor: only the directory sandbox lets it reach the source.
    run = workspace.run("build", "//p:racy", "--sandbox=directory")
    assert run.code == 1 and "changed while the action ran" in run.err
    assert not list((workspace.cache / "ac").glob("*/*"))
    run = workspace.run("build", "//p:racy", "--sandbox=directory")  # and again: it keeps changing, so still not cached
    assert run.code == 1


def test_hanging_tool_times_out_and_nothing_is_cached(workspace):
    workspace.write("p/BUILD.toml", '[[genrule]]\nname = "hang"\nouts = ["o"]\ncmd = "sleep 60; touch $(OUT)"\n')
    run = workspace.run("build", "//p:hang", "--action_timeout", "1")
    assert run.code == 1 and "timed out after 1s" in run.err
    assert not list((workspace.cache / "ac").glob("*/*"))


def test_crashing_tool_is_reported(workspace):
    workspace.write("p/BUILD.toml", '[[genrule]]\nname = "crash"\nouts = ["o"]\ncmd = "touch $(OUT); kill -SEGV $$$$"\n')
    run = workspace.run("build", "//p:crash")
    assert run.code == 1 and ("signal" in run.err or "exit code 139" in run.err)
    assert not list((workspace.cache / "ac").glob("*/*"))


def test_tool_writing_undeclared_files_is_reported(workspace):
    workspace.write("p/BUILD.toml", '[[genrule]]\nname = "stray"\nouts = ["o"]\ncmd = "touch $(OUT) extra.log"\n')
    run = workspace.run("build", "//p:stray")
    assert run.code == 1 and "wrote undeclared files `extra.log`" in run.err
    assert not list((workspace.cache / "ac").glob("*/*"))


def test_huge_build_file_is_rejected(workspace):
    workspace.write("p/BUILD.toml", "# " + "x" * (9 << 20) + "\n")
    run = workspace.run("build", "//p:all")
    assert run.code == 2 and "too large for a BUILD.toml" in run.err


def test_deep_dependency_chain_does_not_overflow(workspace):
    depth = 3000
    tables = ['[[genrule]]\nname = "n0"\nouts = ["o0"]\ncmd = "echo 0 > $(OUT)"\n']
    tables += [f'[[genrule]]\nname = "n{i}"\nsrcs = [":n{i - 1}"]\nouts = ["o{i}"]\ncmd = "cp $(SRCS) $(OUT)"\n'
               for i in range(1, depth)]
    workspace.write("deep/BUILD.toml", "\n".join(tables))
    run = workspace.run("query", f"deps(//deep:n{depth - 1})")
    assert run.code == 0 and len(run.out.split()) == depth
