"""In-process tests of an action's directory (engine.sandbox_tree) and of an
output put in place from the store (engine.blobs): made with its directories,
removed by name once checked, the whole tree otherwise; stray files found."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from wasmelt.engine.actions import Action, Artifact
from wasmelt.engine.errors import ActionError
from wasmelt.engine.labels import Label
from wasmelt.engine.sandbox_tree import check_outputs, make_sandbox, remove_sandbox, tree_dirs
from wasmelt.engine.store import Store


def _action() -> Action:
    return Action(Label("lib/p", "g"), "Genrule", ("/bin/sh", "-c", "true"),
                  (Artifact("lib/p/src.txt", True), Artifact("wasmelt-out/lib/q/h/o", False)),
                  (Artifact("wasmelt-out/lib/p/g/o", False),))


def _fill(box: Path, action: Action) -> None:
    for art in (*action.inputs, *action.outputs):
        (box / art.path).write_text(art.path)


def test_a_sandbox_is_made_with_its_directories_and_removed_by_name(tmp_path):
    action = _action()
    assert tree_dirs(action) == ["lib", "wasmelt-out", "lib/p", "wasmelt-out/lib", "wasmelt-out/lib/p",
                                 "wasmelt-out/lib/q", "wasmelt-out/lib/p/g", "wasmelt-out/lib/q/h"]
    box = make_sandbox(tmp_path / "missing" / "parent", action)  # the parent is made too
    assert sorted(str(p.relative_to(box)) for p in box.rglob("*")) == sorted([".tmp", *tree_dirs(action)])
    _fill(box, action)
    check_outputs(action, box)
    remove_sandbox(box, action)
    assert not box.exists() and list(box.parent.iterdir()) == []


def test_what_the_name_removal_does_not_expect_falls_back_to_the_whole_tree(tmp_path):
    action = _action()
    box = make_sandbox(tmp_path, action)
    _fill(box, action)
    (box / ".tmp" / "scratch").mkdir()  # $TMPDIR in directory mode
    (box / ".tmp" / "scratch" / "f").write_text("x")
    remove_sandbox(box, action)
    assert not box.exists()
    box = make_sandbox(tmp_path, action)  # a failed action: not checked, the tree as found
    (box / "lib/p/stray").write_text("x")
    remove_sandbox(box)
    assert not box.exists()


def test_a_directory_the_check_cannot_read_is_an_undeclared_file(tmp_path, monkeypatch):
    """An action that makes a directory unreadable does not hide what it wrote
    there (as root the mode bits do not stop a read: the refusal is simulated)."""
    action = _action()
    box = make_sandbox(tmp_path, action)
    _fill(box, action)
    (box / "lib/locked").mkdir()
    (box / "lib/locked/hidden.txt").write_text("x")
    real = os.scandir

    def scandir(path):
        if str(path).endswith("/lib/locked"):
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    with pytest.raises(ActionError, match=r"wrote undeclared files `lib/locked/`"):
        check_outputs(action, box)


def test_an_output_put_in_place_replaces_what_is_there_and_follows_no_link(tmp_path):
    store = Store(tmp_path / "cache")
    digest = store.put_bytes(b"new bytes\n")
    out = tmp_path / "ws" / "wasmelt-out" / "p"
    out.mkdir(parents=True)
    old = out / "file"
    old.write_bytes(b"old\n")
    reader = open(old, "rb")  # a reader of the old output keeps reading the old bytes
    assert store.materialize(digest, old, executable=True)
    assert old.read_bytes() == b"new bytes\n" and os.stat(old).st_mode & 0o777 == 0o755
    assert reader.read() == b"old\n"
    reader.close()
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"not yours\n")
    link = out / "link"
    link.symlink_to(outside)
    assert store.materialize(digest, link)
    assert not link.is_symlink() and link.read_bytes() == b"new bytes\n"
    assert outside.read_bytes() == b"not yours\n"
    (out / "dir" / "sub").mkdir(parents=True)
    assert store.materialize(digest, out / "dir")
    assert (out / "dir").read_bytes() == b"new bytes\n"
    assert sorted(p.name for p in out.iterdir()) == ["dir", "file", "link"]  # no temporary file left
    assert store.materialize(digest, out / "new" / "deeper" / "file")  # missing directories are made
    assert (out / "new/deeper/file").read_bytes() == b"new bytes\n"


def test_a_generated_input_is_staged_verified_and_repaired_from_its_output(tmp_path):
    store = Store(tmp_path / "cache")
    out = tmp_path / "ws/wasmelt-out/p/tool.sh"
    out.parent.mkdir(parents=True)
    out.write_bytes(b"#!/bin/sh\necho hi\n")
    out.chmod(0o755)
    digest, _ = store.put_output(out.parent, out.name)
    box = tmp_path / "box"
    box.mkdir()
    assert store.stage(digest, box / "a", out)
    assert (box / "a").read_bytes() == out.read_bytes() and os.stat(box / "a").st_mode & 0o111
    blob = store._blob_path(digest)
    blob.write_bytes(b"damaged\n")
    assert store.stage(digest, box / "b", out)  # from the verified output, the blob repaired
    assert (box / "b").read_bytes() == out.read_bytes() and blob.read_bytes() == out.read_bytes()
    assert store.corrupt_entries == [f"blob {digest}"]
    blob.write_bytes(b"damaged\n")
    out.write_bytes(b"edited\n")  # the output no longer matches either: refused, nothing left behind
    assert not store.stage(digest, box / "c", out)
    assert not (box / "c").exists()
