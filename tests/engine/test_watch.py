"""engine.watch in-process: which changes start a rebuild, batched how, and the
errors a watch stops with (the CLI's watch is tests/engine/test_experience.py)."""

import os
import queue
import shutil
import threading

import pytest

from wasmelt.engine import watch as watch_module
from wasmelt.engine.errors import ConfigError
from wasmelt.engine.watch import relevant, watch

WAIT_S = 30  # only ever reached when a rebuild that should come never does


class Watching:
    """watch() on a thread; each rebuild waits for `release()` when `hold` is set."""

    def __init__(self, root, **kwargs):
        self.root, self.notes, self.rebuilds = root, [], queue.Queue()
        self.stop, self.hold, self.go = threading.Event(), False, threading.Semaphore(0)
        self.error = None

        def rebuild():
            self.rebuilds.put(list(self.notes))
            if self.hold:
                self.go.acquire()

        def run():
            try:
                watch(root, rebuild, debounce_ms=200, stop_event=self.stop, on_change=self.notes.append, **kwargs)
            except Exception as e:  # noqa: BLE001 - the test looks at it
                self.error = e

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def next_rebuild(self) -> list[str]:
        return self.rebuilds.get(timeout=WAIT_S)

    def no_rebuild_after(self, marker: str) -> None:
        """Nothing rebuilt for the changes made before `marker` was written: the
        next rebuild is the marker's alone."""
        (self.root / marker).write_text("x")
        assert self.next_rebuild()[-1] == f"wasmelt watch: changed {marker}; rebuilding"

    def close(self):
        self.stop.set()
        self.go.release()
        self.thread.join(timeout=WAIT_S)
        assert not self.thread.is_alive()


@pytest.fixture
def root(tmp_path):
    (tmp_path / "BUILD.toml").write_text("[workspace]\n")
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "a.c").write_text("int a;\n")
    return tmp_path


def test_a_build_first_then_one_per_edit(root):
    w = Watching(root)
    try:
        assert w.next_rebuild() == []
        (root / "p" / "a.c").write_text("int a = 1;\n")
        assert w.next_rebuild()[-1] == "wasmelt watch: changed p/a.c; rebuilding"
    finally:
        w.close()


def test_changes_during_a_build_are_the_next_batch(root):
    """What is saved while a build runs is seen after it, as one batch."""
    w = Watching(root)
    w.hold = True
    try:
        w.next_rebuild()
        (root / "p" / "a.c").write_text("int a = 2;\n")
        (root / "p" / "b.c").write_text("int b;\n")
        w.go.release()
        assert w.next_rebuild()[-1] == "wasmelt watch: changed p/a.c, p/b.c; rebuilding"
        w.hold = False
        w.go.release()
    finally:
        w.close()


def test_outputs_cache_hidden_and_editor_files_never_rebuild(root, tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    w = Watching(root, ignored=(str(cache),))
    w.hold = True
    try:
        w.next_rebuild()
        for rel in ("wasmelt-out/p/a.o", ".wasmelt/cas/x", ".git/index", "p/.a.c.swp", "p/sedAb12Cd", "p/a.c~",
                    "p/4913", "p/node_modules/x.js"):
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text("x")
        (cache / "entry").write_text("x")
        w.hold = False
        w.go.release()
        w.no_rebuild_after("marker.txt")
    finally:
        w.close()


def test_a_new_directory_is_watched_with_what_it_holds(root):
    w = Watching(root)
    w.hold = True
    try:
        w.next_rebuild()
        (root / "q" / "deep").mkdir(parents=True)
        (root / "q" / "deep" / "BUILD.toml").write_text("")
        w.hold = False
        w.go.release()
        assert w.next_rebuild()[-1] == "wasmelt watch: changed q, q/deep, q/deep/BUILD.toml; rebuilding"
        (root / "q" / "deep" / "BUILD.toml").write_text("[[genrule]]\n")  # and the new directory's own events
        assert w.next_rebuild()[-1] == "wasmelt watch: changed q/deep/BUILD.toml; rebuilding"
    finally:
        w.close()


def test_the_workspace_removed_stops_the_watch_with_its_name(root):
    w = Watching(root)
    w.next_rebuild()
    shutil.rmtree(root)
    w.thread.join(timeout=WAIT_S)
    assert isinstance(w.error, ConfigError), w.error
    assert str(root) in str(w.error) and "removed or moved" in str(w.error)


def test_no_watch_possible_is_one_clear_error(root, monkeypatch):
    def refuse(*args, **kwargs):
        raise watch_module.WatchUnavailable(28, "inotify_add_watch: No space left on device")

    monkeypatch.setattr(watch_module, "Watcher", refuse)
    with pytest.raises(ConfigError, match="max_user_watches"):
        watch(root, lambda: None)


@pytest.mark.parametrize("rel, counts", [("p/a.c", True), ("BUILD.toml", True), ("wasmelt-out/x", False),
                                         (".git/HEAD", False), ("p/.hidden", False), ("p/x~", False)])
def test_relevant(root, rel, counts):
    assert relevant(root, os.path.join(root, rel)) is counts
