"""Actions as REAPI messages: the canonical input root, and a cache key that
depends on what runs (argv, inputs, tool identities), not where."""

from __future__ import annotations

import hashlib

from wasmelt.engine.actions import Action, Artifact, ToolRef, digest_bytes
from wasmelt.engine.labels import parse_label
from wasmelt.engine.remote.protos import messages
from wasmelt.engine.remote.request import DigestMap, input_root, make_request


def _action(tool_path="/bin/sh", tool_digest="abc") -> Action:
    return Action(owner=parse_label("//pkg:x"), mnemonic="Genrule", argv=("sh", "-c", "cat pkg/b pkg/d/a > out"),
                  inputs=(Artifact("pkg/d/a", True), Artifact("pkg/b", True)),
                  outputs=(Artifact("wasmelt-out/pkg/x/out", False),),
                  tools=(ToolRef("sh", tool_path, "1", tool_digest),))


def _files(*contents: bytes) -> dict[str, tuple[str, int]]:
    paths = ("pkg/d/a", "pkg/b")
    return {p: (hashlib.sha256(c).hexdigest(), len(c)) for p, c in zip(paths, contents)}


def _material(action: Action) -> dict:
    return action.key_material({"pkg/d/a": "1", "pkg/b": "2"})


def test_input_root_is_a_sorted_merkle_tree_independent_of_insertion_order():
    files = {"z/y.txt": ("aa" * 32, 3), "a.txt": ("bb" * 32, 1), "z/b.txt": ("cc" * 32, 2), "m/n/o": ("dd" * 32, 4)}
    root, blobs = input_root(files)
    again, _ = input_root(dict(reversed(list(files.items()))))
    assert root == again
    m = messages()
    top = m.Directory.FromString(blobs[root.hash])
    assert [f.name for f in top.files] == ["a.txt"]
    assert [d.name for d in top.directories] == ["m", "z"]
    z = m.Directory.FromString(blobs[top.directories[1].digest.hash])
    assert [f.name for f in z.files] == ["b.txt", "y.txt"]
    for sha, blob in blobs.items():  # every Directory is stored under its SHA-256
        assert hashlib.sha256(blob).hexdigest() == sha


def test_cache_key_ignores_tool_paths_but_not_tool_identity_or_inputs():
    base = make_request(_action(), _material(_action()), _files(b"a", b"b"))
    moved = make_request(_action(tool_path="/opt/other/sh"), _material(_action()), _files(b"a", b"b"))
    assert moved.action_digest == base.action_digest
    other_tool = make_request(_action(tool_digest="def"), _material(_action()), _files(b"a", b"b"))
    assert other_tool.action_digest != base.action_digest
    other_input = make_request(_action(), _material(_action()), _files(b"a", b"B"))
    assert other_input.action_digest != base.action_digest


def test_the_executable_form_names_the_tool_by_path():
    request = make_request(_action(tool_path="/usr/bin/dash"), _material(_action()), _files(b"a", b"b"),
                           executable=True)
    command = messages().Command.FromString(request.command)
    assert list(command.arguments) == ["/usr/bin/dash", "-c", "cat pkg/b pkg/d/a > out"]
    assert list(command.output_paths) == ["wasmelt-out/pkg/x/out"]
    assert "PATH" in {e.name for e in command.environment_variables}


def test_digest_map_remembers_sha256_across_instances_and_checks_what_it_reads(tmp_path):
    data = b"payload"
    xx = digest_bytes(data)
    first = DigestMap(tmp_path)
    assert first.get(xx, lambda: data) == (hashlib.sha256(data).hexdigest(), len(data))
    assert DigestMap(tmp_path).get(xx, lambda: None) == (hashlib.sha256(data).hexdigest(), len(data))
    assert DigestMap(tmp_path).get(digest_bytes(b"other"), lambda: b"not other") is None


def test_threads_asking_for_the_messages_at_once_share_one_set_of_classes():
    import threading

    from wasmelt.engine.remote import protos

    protos._compile.cache_clear()
    seen = []
    threads = [threading.Thread(target=lambda: seen.append(protos.messages().Digest)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(map(id, seen))) == 1
    assert messages().Action(input_root_digest=seen[0](hash="0" * 64, size_bytes=0))
