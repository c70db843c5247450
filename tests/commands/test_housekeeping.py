"""Cache housekeeping: a default size limit (`cache_max_size`) enforced after builds and by
`cache gc` without a flag, zig's cache inside the wasmelt cache, `clean --expunge` leaving nothing."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def _blobs(ws, n: int, size: int = 40_000):
    """n genrules, each writing `size` bytes of its own."""
    ws.write("big/BUILD.toml", "".join(f"""
[[genrule]]
name = "b{i}"
outs = ["b{i}.bin"]
cmd = "head -c {size} /dev/zero | tr '\\\\0' '{chr(97 + i)}' > $(OUT)"
""" for i in range(n)))


def _cas_bytes(cache) -> int:
    return sum(p.stat().st_size for p in (cache / "cas").rglob("*") if p.is_file())


def test_a_build_past_cache_max_size_evicts_the_oldest_entries(workspace):
    workspace.write("BUILD.toml", '[workspace]\nname = "t"\ncache_max_size = "100K"\n')
    _blobs(workspace, 2)
    first = workspace.run("build", "//big:b0", "//big:b1")
    assert first.code == 0, first.err
    assert "cache over cache_max_size" not in first.err
    assert 80_000 <= _cas_bytes(workspace.cache) <= 100 * 1024
    measured = int((workspace.cache / "size").read_text().split()[0])  # measured once: the first record
    assert measured >= 80_000
    _blobs(workspace, 3)
    workspace.write("BUILD.toml", '[workspace]\nname = "t"\ncache_max_size = "200K"\n')
    assert workspace.run("build", "//big:b2").code == 0
    estimate, builds = (int(x) for x in (workspace.cache / "size").read_text().split())
    assert builds == 1 and measured + 40_000 <= estimate <= measured + 40_960 + 3 * 4096  # estimated, not walked
    workspace.write("BUILD.toml", '[workspace]\nname = "t"\ncache_max_size = "100K"\n')
    _blobs(workspace, 4)
    more = workspace.run("build", "//big:all")
    assert more.code == 0, more.err
    assert "cache over cache_max_size = '100K': evicted" in more.err
    assert _cas_bytes(workspace.cache) <= 100 * 1024
    assert (workspace.root / "wasmelt-out/big/b3/b3.bin").stat().st_size == 40_000  # outputs stay in place


def test_cache_gc_without_a_flag_applies_the_setting(workspace):
    _blobs(workspace, 3)
    assert workspace.run("build", "//big:all").code == 0
    default = workspace.run("cache", "gc")  # 5G: nothing to evict
    assert default.code == 0 and "evicted 0 action entries" in default.out, default.out
    workspace.write("BUILD.toml", '[workspace]\nname = "t"\ncache_max_size = "50K"\n')
    limited = workspace.run("cache", "gc")
    assert limited.code == 0
    assert "evicted 2 action entries" in limited.out, limited.out
    assert _cas_bytes(workspace.cache) <= 50 * 1024
    for shards in ("cas", "ac"):  # no empty shard directory left behind
        assert all(any(d.iterdir()) for d in (workspace.cache / shards).iterdir()), shards
    assert workspace.run("info", "cache_size").out.strip().endswith("(cache_max_size 50K)")
    bad = workspace.run("cache", "gc", "--max-size", "lots")
    assert bad.code == 2 and "--max-size `lots` is not a size" in bad.err


def test_zig_cache_lives_in_the_wasmelt_cache_and_gc_counts_it(workspace, tmp_path):
    workspace.write("c/app.c", "int f(int x) { return x * 3; }\n")
    workspace.write("c/BUILD.toml", '[[component]]\nname = "app"\nsrcs = ["app.c"]\nexports = ["f"]\n')
    env = {k: v for k, v in os.environ.items() if k != "ZIG_GLOBAL_CACHE_DIR"}

    proc = subprocess.run([sys.executable, "-m", "wasmelt", "build", "//c:app"], cwd=workspace.root, text=True,
                          capture_output=True, env={**env, "WASMELT_CACHE": str(workspace.cache)}, timeout=600)
    assert proc.returncode == 0, proc.stderr
    zig = workspace.cache / "zig"
    assert zig.is_dir() and any(zig.rglob("*")), "zig wrote its cache under the wasmelt cache"
    gc = subprocess.run([sys.executable, "-m", "wasmelt", "cache", "gc", "--max-size", "100"], cwd=workspace.root,
                        text=True, capture_output=True, env={**env, "WASMELT_CACHE": str(workspace.cache)})
    assert gc.returncode == 0, gc.stderr
    assert not zig.exists(), (gc.stdout, list(zig.rglob("*"))[:5])  # over the limit by itself: removed (zig makes it again)


def test_clean_expunge_removes_everything_it_owns(tmp_path):
    from conftest import Workspace

    ws = Workspace(tmp_path / "ws", tmp_path / "ws" / ".wasmelt")
    ws.write("BUILD.toml", '[workspace]\nname = "t"\n')
    _blobs(ws, 1)
    assert ws.run("build", "//big:all").code == 0
    assert (ws.root / ".wasmelt/lock").exists()
    run = ws.run("clean", "--expunge")
    assert run.code == 0, run.err
    assert not (ws.root / ".wasmelt").exists() and not (ws.root / "wasmelt-out").exists()
    assert sorted(p.name for p in ws.root.iterdir()) == ["BUILD.toml", "big"]


@pytest.mark.parametrize("text, size", [("5GB", 5 << 30), ("512MiB", 512 << 20), ("100k", 102400), (4096, 4096),
                                        ("1.5G", 3 << 29)])
def test_sizes(text, size):
    from wasmelt.engine.settings import parse_size

    assert parse_size(text) == size


def test_the_size_estimate_is_rewritten_in_place_between_measurements(tmp_path):
    """A build between two measurements rewrites the stamp's bytes (no file
    renamed over it: ext4 writes such a file out at once); one of another
    width, as older versions wrote it, is replaced once."""
    from wasmelt.engine.cache_limits import SIZE_STAMP, limit_cache

    stamp = tmp_path / SIZE_STAMP
    stamp.write_text("1000 3\n")
    assert limit_cache(tmp_path, 10**9, 24) is None
    assert [int(x) for x in stamp.read_text().split()] == [1024, 4]
    inode = stamp.stat().st_ino
    assert limit_cache(tmp_path, 10**9, 1000) is None
    assert [int(x) for x in stamp.read_text().split()] == [2024, 5] and stamp.stat().st_ino == inode
