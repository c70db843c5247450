"""`wasmelt init`: a workspace that builds and tests as written, and never
overwrites what is there."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def wasmelt(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "WASMELT_CACHE"}  # the workspace's own .wasmelt/
    return subprocess.run([sys.executable, "-m", "wasmelt", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


def test_init_then_test_passes_in_an_empty_directory_and_git_ignores_the_outputs(tmp_path):
    run = wasmelt(tmp_path, "init", "blinky")
    assert run.returncode == 0, run.stderr
    ws = tmp_path / "blinky"
    assert sorted(str(p.relative_to(ws)) for p in ws.rglob("*")) == [
        ".gitignore", "BUILD.toml", "app", "app/BUILD.toml", "app/app.c", "app/host_stubs.toml", "build.schema.json"]
    assert "[workspace]" in (ws / "BUILD.toml").read_text() and 'name = "blinky"' in (ws / "BUILD.toml").read_text()
    assert "cd blinky && wasmelt test //..." in run.stdout

    test = wasmelt(ws, "test", "//...")
    assert test.returncode == 0, test.stderr
    assert "PASSED: //app:firmware_test" in test.stdout + test.stderr
    obj = ws / "wasmelt-out/app/firmware/firmware.o"
    assert obj.read_bytes()[:4] == b"\x7fELF"
    assert (ws / ".wasmelt").is_dir()
    size = wasmelt(ws, "size", "//app:firmware")
    assert size.returncode == 0 and "step" in size.stdout, size.stderr

    subprocess.run(["git", "init", "-q"], cwd=ws, check=True)
    untracked = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=ws,
                               capture_output=True, text=True, check=True).stdout.split()
    assert not [p for p in untracked if p.startswith(("wasmelt-out", ".wasmelt"))], untracked


def test_init_here_refuses_to_overwrite_and_writes_nothing(tmp_path):
    (tmp_path / "BUILD.toml").write_text("# mine\n")
    run = wasmelt(tmp_path, "init")
    assert run.returncode == 2
    assert run.stderr.startswith(f"ERROR: wasmelt init: {tmp_path / 'BUILD.toml'} already exists; nothing was written.")
    assert "Traceback" not in run.stderr
    assert (tmp_path / "BUILD.toml").read_text() == "# mine\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["BUILD.toml"]


def test_init_adds_its_lines_to_an_existing_gitignore(tmp_path):
    (tmp_path / ".gitignore").write_text("*.log\n.wasmelt\n")
    run = wasmelt(tmp_path, "init")
    assert run.returncode == 0, run.stderr
    assert (tmp_path / ".gitignore").read_text() == "*.log\n.wasmelt\nwasmelt-out/\n"
    assert "next: wasmelt test //..." in run.stdout


def test_init_into_a_file_is_an_error(tmp_path):
    (tmp_path / "f").write_text("")
    run = wasmelt(tmp_path, "init", "f")
    assert run.returncode == 2
    assert run.stderr.startswith("ERROR: wasmelt init: f is a file, not a directory")


def test_outside_a_workspace_the_error_points_at_init(tmp_path):
    run = wasmelt(tmp_path, "build", "//...")
    assert run.returncode == 2
    assert "start one with `wasmelt init`" in run.stderr
