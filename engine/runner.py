"""Who runs an action once the rebuild decided it must run: the Runner protocol,
the LocalRunner (engine.sandbox stages and runs it) and the RemoteRunner (REAPI).

A runner only runs: it gets the action and its input digests and returns the
bytes of the outputs; the executor stores them, checks them and caches them.
Tests replace it with a fake that records which commands ran (tests/engine/fakes.py).
"""

from __future__ import annotations

import os

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from .actions import Action, digest_bytes
from .errors import ActionError


class SourceChanged(ActionError):
    """A source's bytes differ from the digest its action was keyed with."""


@dataclass
class RunResult:
    outputs: Mapping[str, bytes]  # declared output path -> content (optional outputs may be absent)
    stdout: bytes = b""
    stderr: bytes = b""
    duration: float = 0.0
    remote: bool = False  # ran on the remote executor
    # Outputs the runner already streamed into the store (path -> digest);
    # `outputs` then reads them back only when asked.
    digests: dict[str, str] | None = None
    executable: frozenset[str] = frozenset()


class StoredOutputs(Mapping):
    """Outputs already in the store, read back only when asked (a remote
    upload, a reproducibility mismatch): large outputs are not held in memory."""

    def __init__(self, store, digests: dict[str, str]):
        self.store, self.digests = store, digests

    def __getitem__(self, path: str) -> bytes:
        return self.store.get_bytes(self.digests[path])

    def __iter__(self):
        return iter(self.digests)

    def __len__(self) -> int:
        return len(self.digests)


class Runner(Protocol):
    def run(self, action: Action, inputs: dict[str, str]) -> RunResult:
        """Run `action` whose inputs have these digests; ActionError when it fails."""


class LocalRunner:
    """A scratch directory with the declared inputs, the command, the declared outputs back."""

    def __init__(self, root: Path, store, timeout: float | None = None):
        self.root, self.store, self.timeout = root, store, timeout

    def run(self, action: Action, inputs: dict[str, str]) -> RunResult:
        from .sandbox import collect_outputs, make_sandbox, remove_sandbox, run_in_sandbox, sandbox_parent

        sandbox = make_sandbox(sandbox_parent(self.store.root / "sandbox"), action)
        checked = None
        try:
            for art in action.inputs:
                dest = sandbox / art.path
                if art.is_source:
                    if not stage_source(self.root / art.path, dest, inputs[art.path]):
                        raise SourceChanged(f"{action.describe()}: source `{art.path}` changed during the build; run the build again")
                elif not self.store.stage(inputs[art.path], dest, self.root / art.path):
                    raise ActionError(f"{action.describe()}: input `{art.path}` is missing from the store; run the build again")
            # The sandbox hides the workspace (sources, wasmelt-out) and the store.
            done = run_in_sandbox(action, sandbox, self.timeout, hidden=(str(self.root), str(self.store.root)),
                                  root=str(self.root), cache_dir=str(self.store.root))
            digests, executable = collect_outputs(self.store, action, sandbox)
            checked = action
            return RunResult(StoredOutputs(self.store, digests), done.stdout, done.stderr, done.duration,
                             digests=digests, executable=executable)
        finally:
            remove_sandbox(sandbox, checked)


def stage_source(source: Path, dest: Path, digest: str) -> bool:
    """Copy a source into the sandbox if its bytes still have `digest`
    (False: it changed); it keeps its executable bit (a `tools = ["tool.sh"]` script)."""
    with open(source, "rb") as f:
        data = f.read()
        executable = os.fstat(f.fileno()).st_mode & 0o100
    if digest_bytes(data) != digest:
        return False
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o755 if executable else 0o644)
    with open(fd, "wb") as out:
        out.write(data)
    return True


class RemoteRunner:
    """Runs actions on a remote executor (engine.remote), and here what it cannot run."""

    def __init__(self, remote, local: Runner):
        self.remote, self.local = remote, local

    def run(self, action: Action, inputs: dict[str, str], material: dict | None = None) -> RunResult:
        data = {}
        for art in action.inputs:
            blob = (self.local.root / art.path).read_bytes() if art.is_source else self.local.store.get_bytes(inputs[art.path])
            if blob is None or digest_bytes(blob) != inputs[art.path]:
                raise SourceChanged(f"{action.describe()}: input `{art.path}` changed during the build; run the build again")
            data[art.path] = blob
        result = self.remote.execute(action, material if material is not None else action.key_material(inputs), data)
        if result is None:  # the remote could not run it: run it here
            return self.local.run(action, inputs)
        if result.exit_code != 0:
            from .sandbox import printable, tail

            raise ActionError(f"{action.describe()} failed remotely (exit code {result.exit_code})\n"
                              f"{printable(tail(result.stderr or result.stdout))}\n  command: {action.command_line()}")
        missing = [a.path for a in action.outputs if a.path not in result.outputs and a.path not in action.optional_outputs]
        if missing:
            raise ActionError(f"{action.describe()} did not produce declared output `{missing[0]}` (remote execution)")
        return RunResult(dict(result.outputs), result.stdout, result.stderr, remote=True)


@dataclass
class RemoteResult:
    outputs: dict[str, bytes]  # declared output path -> verified content
    stdout: bytes = b""
    stderr: bytes = b""
    exit_code: int = 0


class RemoteBackend:
    """A shared cache and/or executor beyond this machine (see engine/remote).

    Implementations verify every blob they return against its digest and
    swallow their own faults: a broken remote degrades to a local build,
    recording one line in `warnings`.
    """

    warnings: list[str]
    can_execute: bool = False

    def attach(self, store, root: Path) -> None:
        """Called once by the executor: where inputs' contents can be read."""

    def lookup(self, action: Action, material: dict) -> RemoteResult | None: ...

    def upload(self, action: Action, material: dict, result: RemoteResult) -> None: ...

    def execute(self, action: Action, material: dict, inputs: dict[str, bytes]) -> RemoteResult | None:
        """The result of running the action remotely, or None when the remote
        cannot run it (the action then runs locally)."""
