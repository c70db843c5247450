"""Artifacts, tools and actions: what the analysis of targets produces and
the executor runs, and the action key that caches them."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field

import xxhash

from .labels import Label


@dataclass(frozen=True)
class Artifact:
    """A file, by workspace-relative path; derived ones live under wasmelt-out/."""

    path: str
    is_source: bool

    def __str__(self) -> str:
        return self.path


@dataclass(frozen=True)
class ToolRef:
    """A program an action runs; its identity, not its path, enters the key."""

    name: str  # how argv refers to it (argv[0] == name is replaced by path)
    path: str
    version: str
    digest: str


@dataclass(frozen=True)
class Action:
    owner: Label
    mnemonic: str  # short kind of work, e.g. "Genrule", "Fuse"
    argv: tuple[str, ...]
    inputs: tuple[Artifact, ...]
    outputs: tuple[Artifact, ...]
    tools: tuple[ToolRef, ...] = ()
    env: tuple[tuple[str, str], ...] = ()  # declared environment, part of the key
    timeout: float | None = None
    # Outputs that may legitimately be missing (a tool's optional side file).
    optional_outputs: frozenset[str] = field(default_factory=frozenset)
    network: bool = False  # the sandbox leaves it the host's network


    @functools.cached_property
    def id(self) -> str:
        return self.outputs[0].path

    def describe(self) -> str:
        return f"{self.mnemonic} {self.owner}"

    def command_line(self, root: str | None = None) -> str:
        """The action as one shell line a user can paste: its tools' paths (the interpreter the
        build used, not a bare `python`), its declared environment, every word quoted; run from
        the workspace root (`cd ROOT && mkdir -p OUTPUT_DIRS && ...` when `root` is given), where its
        inputs and outputs are."""
        import shlex

        tools = {t.name: t.path for t in self.tools}
        argv = [tools.get(self.argv[0], self.argv[0]), *self.argv[1:]]
        env = [f"{k}={v}" for k, v in self.env]
        line = shlex.join(["env", *env, *argv] if env else argv)
        if not root:
            return line
        dirs = sorted({a.path.rsplit("/", 1)[0] for a in self.outputs if "/" in a.path})
        mkdir = f"mkdir -p {shlex.join(dirs)} && " if dirs else ""
        return f"cd {shlex.quote(root)} && {mkdir}{line}"

    def key_material(self, input_digests: dict[str, str]) -> dict:
        """Everything the key covers, in canonical form (also shown by explain)."""
        material = {
            "argv": list(self.argv),
            "env": sorted(self.env),
            "inputs": {a.path: input_digests[a.path] for a in sorted(self.inputs, key=lambda a: a.path)},
            "outputs": sorted(a.path for a in self.outputs),
            "tools": {t.name: [t.version, t.digest] for t in sorted(self.tools, key=lambda t: t.name)},
        }
        if self.network:
            material["network"] = True
        return material


def digest_bytes(data: bytes) -> str:
    return xxhash.xxh3_128_hexdigest(data)


def action_key(material: dict) -> str:
    canonical = json.dumps(material, sort_keys=True, separators=(",", ":"))
    return digest_bytes(canonical.encode())
