"""An action as REAPI messages: SHA-256 digests for its inputs (mapped from
the local xxHash digests), the input root as a canonical Merkle tree, and the
Command/Action pair whose digest keys the remote action cache."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..actions import Action, digest_bytes
from ..sandbox import FIXED_ENV
from .protos import messages

# Bump when the mapping from an action to REAPI messages changes meaning.
SCHEME = "wasmelt-reapi-1"
# Where a remote worker finds the host programs an action names by path.
REMOTE_PATH = "/usr/local/bin:/usr/bin:/bin"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def proto_digest(data: bytes):
    return messages().Digest(hash=sha256(data), size_bytes=len(data))


def serialize(message) -> bytes:
    return message.SerializeToString(deterministic=True)


class DigestMap:
    """xxHash-128 (local) -> SHA-256 and size (REAPI), remembered on disk in
    the store so unchanged inputs are not read and hashed again."""

    def __init__(self, root: Path):
        self.root = root
        self._memo: dict[str, tuple[str, int]] = {}
        self._lock = threading.Lock()

    def _path(self, xx: str) -> Path:
        return self.root / xx[:2] / xx[2:]

    def get(self, xx: str, read: Callable[[], bytes | None]) -> tuple[str, int] | None:
        with self._lock:
            hit = self._memo.get(xx)
        if hit is not None:
            return hit
        try:
            sha, size = self._path(xx).read_text().split()
            hit = (sha, int(size))
        except (OSError, ValueError):
            data = read()
            if data is None or digest_bytes(data) != xx:
                return None
            hit = self.remember(xx, data)
        with self._lock:
            self._memo[xx] = hit
        return hit

    def remember(self, xx: str, data: bytes) -> tuple[str, int]:
        hit = (sha256(data), len(data))
        path = self._path(xx)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".tmp-{path.name}-{os.getpid()}-{threading.get_ident()}")
            tmp.write_text(f"{hit[0]} {hit[1]}\n")
            os.replace(tmp, path)
        except OSError:
            pass  # the map is only a shortcut
        with self._lock:
            self._memo[xx] = hit
        return hit


def input_root(files: dict[str, tuple[str, int]]) -> tuple[object, dict[str, bytes]]:
    """The root Directory digest and every Directory blob of the tree holding
    `files` (workspace-relative path -> (sha256, size)), canonical: entries
    sorted by name, no executable bits (the local sandbox sets none)."""
    m = messages()
    tree: dict = {}
    for path, (sha, size) in files.items():
        node = tree
        *dirs, name = path.split("/")
        for d in dirs:
            node = node.setdefault(d, {})
        node[name] = (sha, size)
    blobs: dict[str, bytes] = {}

    def build(node: dict):
        directory = m.Directory()
        for name in sorted(node):
            child = node[name]
            if isinstance(child, dict):
                digest = build(child)
                directory.directories.add(name=name, digest=digest)
            else:
                directory.files.add(name=name, digest=m.Digest(hash=child[0], size_bytes=child[1]))
        data = serialize(directory)
        digest = proto_digest(data)
        blobs[digest.hash] = data
        return digest

    return build(tree), blobs


@dataclass
class Request:
    """The REAPI messages for one action, ready to look up, upload or run."""

    action_digest: object  # Digest of the cache Action (the AC key)
    action: bytes
    command: bytes
    directories: dict[str, bytes]  # sha256 -> Directory blob of the input root
    inputs: dict[str, tuple[str, int]]  # path -> (sha256, size)
    outputs: list[str]


def tool_salt(action: Action) -> bytes:
    tools = {t.name: [t.version, t.digest] for t in action.tools}
    return json.dumps({"scheme": SCHEME, "tools": tools}, sort_keys=True, separators=(",", ":")).encode()


def make_request(action: Action, material: dict, inputs: dict[str, tuple[str, int]], *,
                 executable: bool = False) -> Request:
    """The cache form names programs as the action key does (argv as declared,
    tool identities in the salt), so it is the same on every machine. The
    executable form resolves argv[0] to the tool's path and sets PATH, which a
    worker needs; its result is also stored under the cache form."""
    m = messages()
    argv = list(material["argv"])
    env = dict(FIXED_ENV)
    env.update(dict(material["env"]))
    if executable:
        tools = {t.name: t.path for t in action.tools}
        argv[0] = tools.get(argv[0], argv[0])
        env.setdefault("PATH", REMOTE_PATH)
        env.setdefault("HOME", "/tmp")
    outputs = sorted(material["outputs"])
    command = m.Command(arguments=argv, output_files=outputs, output_paths=outputs)
    for name in sorted(env):
        command.environment_variables.add(name=name, value=env[name])
    command_blob = serialize(command)
    root, directories = input_root(inputs)
    act = m.Action(command_digest=proto_digest(command_blob), input_root_digest=root, salt=tool_salt(action))
    action_blob = serialize(act)
    return Request(proto_digest(action_blob), action_blob, command_blob, directories, inputs, outputs)
