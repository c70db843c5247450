"""engine.watcher in-process: what sync() reports after changes made before it,
with no wait (the kernel queued every event before the change's call returned)."""

from __future__ import annotations

import os

import pytest

from wasmelt.engine.watcher import Watcher


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "ws"
    (root / "a").mkdir(parents=True)
    (root / "a" / "x.txt").write_text("1\n")
    (root / ".wasmelt").mkdir()
    watcher = Watcher([str(root)], [str(root / ".wasmelt")])
    yield root, watcher
    watcher.close()


def _changed(watcher) -> set[str]:
    assert watcher.sync()
    return watcher.drain_paths()


def test_an_edit_made_before_sync_is_reported_and_drained_once(tree):
    root, watcher = tree
    assert _changed(watcher) == set()
    (root / "a" / "x.txt").write_text("2\n")
    os.utime(root / "a")  # a touch: the stat pass would see it too
    assert _changed(watcher) == {str(root / "a" / "x.txt"), str(root / "a")}
    assert _changed(watcher) == set()


def test_a_new_directory_is_watched_and_what_it_held_before_its_watch_is_reported(tree):
    root, watcher = tree
    (root / "b" / "c").mkdir(parents=True)
    (root / "b" / "c" / "y.txt").write_text("y\n")  # before the watcher knows b/ exists
    assert _changed(watcher) >= {str(root / "b"), str(root / "b" / "c"), str(root / "b" / "c" / "y.txt")}
    (root / "b" / "c" / "y.txt").write_text("again\n")
    assert _changed(watcher) == {str(root / "b" / "c" / "y.txt")}


def test_a_renamed_directory_reports_its_new_paths(tree):
    root, watcher = tree
    os.rename(root / "a", root / "moved")
    assert {str(root / "a"), str(root / "moved")} <= _changed(watcher)
    (root / "moved" / "x.txt").write_text("3\n")
    assert _changed(watcher) == {str(root / "moved" / "x.txt")}


def test_the_ignored_directory_is_not_watched(tree):
    root, watcher = tree
    (root / ".wasmelt" / "blob").write_text("cache\n")
    assert _changed(watcher) == set()


def test_an_overflowed_queue_cannot_say_and_watches_what_appeared_meanwhile(tree):
    root, watcher = tree
    limit = int(open("/proc/sys/fs/inotify/max_queued_events").read())
    if limit > 40_000:
        pytest.skip(f"max_queued_events is {limit}: too many files to overflow it here")
    (root / "new").mkdir()
    for i in range(limit + 10):  # one IN_CREATE each: more than the kernel keeps
        (root / "a" / f"f{i}").touch()
    (root / "new" / "late").mkdir()  # its IN_CREATE is lost in the overflow
    assert watcher.sync() and watcher.drain_paths() is None
    (root / "new" / "late" / "z.txt").write_text("z\n")
    assert str(root / "new" / "late" / "z.txt") in _changed(watcher)


def test_the_servers_code_stamp_sees_an_edit_and_a_new_file_but_not_bytecode(tmp_path):
    """The server watches the directories of wasmelt's code, not their subdirectories:
    an edited or added module makes it stale, a .pyc written to __pycache__ does not."""
    from wasmelt.engine.server import Server
    from wasmelt.engine.workspace import Workspace

    code = tmp_path / "code"
    (code / "__pycache__").mkdir(parents=True)
    (code / "main.py").write_text("X = 1\n")
    server = Server(Workspace(tmp_path / "ws", {}, tmp_path / "cache"), 60, frontend=None)
    server.code_files = [str(code), str(code / "main.py")]
    server.code_stamp = Watcher([str(code)], [], recursive=False)
    try:
        assert not server._stale()
        (code / "__pycache__" / "main.cpython-311.pyc").write_bytes(b"bytecode")
        assert not server._stale()
        (code / "main.py").write_text("X = 2\n")
        assert server._stale()
        assert not server._stale()  # reported once: the server exits on the first
        (code / "new.py").write_text("")
        assert server._stale()
    finally:
        server.code_stamp.close()
