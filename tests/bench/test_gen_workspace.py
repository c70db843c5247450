"""The benchmark generator emits one graph that wasmelt builds and rebuilds
incrementally, and that ninja builds into the same bytes."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _load_generator():
    spec = importlib.util.spec_from_file_location("bench_gen_workspace", BENCH / "gen_workspace.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


gen = _load_generator()


def _wasmelt(root: Path, cache: Path) -> dict[str, int]:
    proc = subprocess.run([sys.executable, "-m", "wasmelt", "build", "//...", "-q"], cwd=root,
                          env=dict(os.environ, WASMELT_CACHE=str(cache)), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    m = re.search(r"(\d+) actions?: (\d+) executed, (\d+) cached", proc.stderr)
    assert m, proc.stderr
    return {"total": int(m.group(1)), "executed": int(m.group(2)), "cached": int(m.group(3))}


@pytest.fixture
def workspace(tmp_path):
    return gen.generate(tmp_path / "ws", 30)


def test_graph_has_the_library_shape():
    packages = gen.make_graph(1000)
    assert len(packages) == 100 and all(len(p.targets) == gen.PER_PACKAGE for p in packages)
    cross = [s for p in packages for t in p.targets for s in t.srcs if s.startswith("//")]
    assert cross, "intermediates must reach into other packages"
    names = {f"//{p.path}:{t.name}" for p in packages for t in p.targets}
    assert set(cross) <= names
    assert sum(t.marked for p in packages for t in p.targets) == 1


def test_wasmelt_builds_it_then_has_nothing_to_do(workspace, tmp_path):
    cache = tmp_path / "cache"
    first = _wasmelt(Path(workspace.root), cache)
    assert first == {"total": 30, "executed": 30, "cached": 0}
    assert _wasmelt(Path(workspace.root), cache)["executed"] == 0
    gen.edit_leaf(workspace, 1)
    assert _wasmelt(Path(workspace.root), cache)["executed"] >= 1
    gen.edit_build_file(workspace, "wasmelt", 2)
    assert _wasmelt(Path(workspace.root), cache)["executed"] == 1  # same bytes out: early cutoff


@pytest.mark.skipif(not shutil.which("ninja"), reason="ninja not installed (apt-get install ninja-build)")
def test_ninja_builds_the_same_bytes(workspace, tmp_path):
    root = Path(workspace.root)
    _wasmelt(root, tmp_path / "cache")
    proc = subprocess.run(["ninja", "-j", "2"], cwd=root, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ninja_outs = sorted((root / gen.NINJA_OUT).rglob("*.out"))
    assert len(ninja_outs) == 30
    for out in ninja_outs:
        rel = out.relative_to(root / gen.NINJA_OUT)
        ours = root / "wasmelt-out" / rel.parent / out.stem / out.name
        assert ours.read_bytes() == out.read_bytes(), rel
    gen.edit_build_file(workspace, "ninja", 3)
    again = subprocess.run(["ninja", "-j", "2"], cwd=root, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and "GEN" in again.stdout
