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
    estimate, builds = (int(x) for x in (workspace.cache / "size").read_text().split()[:2])
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
    assert [int(x) for x in stamp.read_text().split()][:2] == [1024, 4]
    inode = stamp.stat().st_ino
    assert limit_cache(tmp_path, 10**9, 1000) is None
    assert [int(x) for x in stamp.read_text().split()][:2] == [2024, 5] and stamp.stat().st_ino == inode


def _walks(monkeypatch) -> list[str]:
    """The directories listed from now on (tree_bytes and the gc list them with os.scandir)."""
    listed: list[str] = []
    scandir = os.scandir

    def counting(path="."):
        listed.append(os.fspath(path))
        return scandir(path)

    monkeypatch.setattr(os, "scandir", counting)
    return listed


def _cache_of(tmp_path, monkeypatch, blobs: int = 200):
    """A cache of `blobs` blobs and a zig cache (inside it, as by default), measured once (the stamp written)."""
    from wasmelt.engine.cache_limits import limit_cache
    from wasmelt.engine.store import Store

    monkeypatch.delenv("ZIG_GLOBAL_CACHE_DIR", raising=False)

    store = Store(tmp_path)
    for i in range(blobs):
        store.put_bytes(b"blob %d" % i)
    (tmp_path / "zig/o/1").mkdir(parents=True)
    (tmp_path / "zig/o/1/a.o").write_bytes(b"z" * 5000)
    assert limit_cache(tmp_path, 10**9, 0) is None  # no stamp: walked
    return store


def _stamp(cache) -> list[int]:
    from wasmelt.engine.cache_limits import SIZE_STAMP

    return [int(x) for x in (cache / SIZE_STAMP).read_text().split()]


def test_builds_under_the_limit_walk_nothing_and_the_50th_only_looks_at_the_tool_caches(tmp_path, monkeypatch):
    """The estimate under the limit: no build lists the CAS, not even every REMEASURE_EVERY-th;
    that one stats the tool caches (zig's) and lists only them, and walks them only once zig wrote."""
    from wasmelt.engine.cache_limits import REMEASURE_EVERY, limit_cache

    _cache_of(tmp_path, monkeypatch)
    measured = _stamp(tmp_path)[0]
    listed = _walks(monkeypatch)
    for _ in range(2 * REMEASURE_EVERY + 1):
        assert limit_cache(tmp_path, 10**9, 100) is None
    assert set(listed) == {str(tmp_path / "zig")}, sorted(set(listed))[:5]  # twice: the signature's one listing
    assert len(listed) == 2
    assert _stamp(tmp_path)[:2] == [measured + 100 * (2 * REMEASURE_EVERY + 1), 1]
    (tmp_path / "zig/o/2").mkdir()  # zig compiled something
    (tmp_path / "zig/o/2/b.o").write_bytes(b"z" * 10_000)
    listed.clear()
    for _ in range(REMEASURE_EVERY):
        assert limit_cache(tmp_path, 10**9, 0) is None
    assert listed and all(path.startswith(str(tmp_path / "zig")) for path in listed), sorted(set(listed))[:5]
    grown = os.stat(tmp_path / "zig/o/2/b.o").st_blocks * 512
    assert _stamp(tmp_path)[0] == measured + 100 * (2 * REMEASURE_EVERY + 1) + grown


def test_an_estimate_over_the_limit_is_measured_and_gc_keeps_less_than_the_limit(tmp_path, monkeypatch):
    """Over by the estimate: the cache is walked; truly over, gc takes it to GC_TARGET of the limit, so
    the builds after it do not each walk it again."""
    from wasmelt.engine.cache_limits import GC_TARGET, limit_cache
    from wasmelt.engine.store import CachedResult

    store = _cache_of(tmp_path, monkeypatch, blobs=0)
    for i in range(20):  # 20 entries of a 4 KiB blob each
        digest = store.put_bytes(bytes([i]) * 4000)
        store.put_action(f"{i:064x}", CachedResult({"out": digest}, digest, digest))
    listed = _walks(monkeypatch)
    assert limit_cache(tmp_path, 10**9, 10**9) is None  # over by what the estimate says only: walked, none evicted
    assert any(path.startswith(str(tmp_path / "cas")) for path in listed), listed
    assert _stamp(tmp_path)[:2] == [store.size((tmp_path / "zig",)), 0]  # the 20 entries the estimate missed
    size = _stamp(tmp_path)[0]
    counts = limit_cache(tmp_path, size - 1, 0)
    assert counts is not None and counts["evicted_actions"] > 0
    assert counts["bytes"] <= GC_TARGET * (size - 1) and _stamp(tmp_path)[0] == counts["bytes"]
    listed.clear()
    assert limit_cache(tmp_path, size - 1, 4096) is None and not listed  # the next build: under again, no walk


def test_a_remote_caches_hit_counts_in_the_estimate(tmp_path, monkeypatch):
    """Its outputs and logs are stored locally as an executed action's are: added to the estimate
    (no walk every REMEASURE_EVERY builds catches what the estimate misses any more)."""
    from types import SimpleNamespace

    from wasmelt.commands.build import keep_cache_size
    from wasmelt.engine import cache_limits

    (tmp_path / "out.bin").write_bytes(b"x" * 10_000)
    seen = []
    monkeypatch.setattr(cache_limits, "limit_cache", lambda cache, limit, added: seen.append(added))
    ws = SimpleNamespace(root=tmp_path, settings={}, cache_dir=tmp_path / "cache")

    def build(status: str, remote: bool):
        record = SimpleNamespace(status=status, remote=remote, outputs={"out.bin": "digest"})
        return SimpleNamespace(records=SimpleNamespace(decided={"a": record}))

    keep_cache_size(ws, build("cached", False))  # the local cache's: nothing new
    assert seen == []
    keep_cache_size(ws, build("cached", True))
    keep_cache_size(ws, build("executed", False))
    blocks = os.stat(tmp_path / "out.bin").st_blocks * 512
    assert seen == [3 * 4096 + blocks] * 2
