"""One action at a time, on a worker thread or inline: look its key up in the
local (and remote) action cache, else run it through the Runner, then store,
check and place its outputs.

Keys use the content digests of inputs, so an upstream action whose output
comes out byte-identical stops the rebuild there (early cutoff).
"""

from __future__ import annotations

import os
import stat

from .actions import Action
from .errors import ActionError
from .results import CACHED, EXECUTED, FAILED, SKIPPED, ActionRecord, BuildReport, Reporter, Reporters  # noqa: F401
from .runner import LocalRunner, RemoteBackend, RemoteResult, RemoteRunner, Runner, RunResult, SourceChanged  # noqa: F401
from .rebuild import decide, untouched
from .blobs import _atomic_write, digest_file
from .store import CachedResult, Store
from .trace import Trace
from .workspace import Workspace


class _NeedsCopy(Exception):
    """A cache hit whose output must be copied back from the store."""


class NonDeterministic(ActionError):
    """Running an action again gave different bytes."""


class Executor:
    def __init__(self, ws: Workspace, store: Store, trace: Trace, *, timeout: float | None = None,
                 use_cache: bool = True, remote: RemoteBackend | None = None, expected: dict[str, str] | None = None,
                 runner: Runner | None = None, uncached: frozenset[str] = frozenset()):
        self.ws = ws
        self._root = str(ws.root)
        self.store = store
        self.trace = trace  # source digests by stat, and the last build's decisions
        self.use_cache = use_cache
        self.uncached = uncached  # ids of actions run even when a result is cached
        self.remote = remote
        if remote is not None:
            remote.attach(store, ws.root)
        self.runner = runner or LocalRunner(ws.root, store, timeout)
        if remote is not None and remote.can_execute and runner is None:
            self.runner = RemoteRunner(remote, self.runner)
        # Verification mode (release): run everything again and compare each
        # output with these digests from the cached build.
        self.expected = expected

    def source_digest(self, path: str) -> str:
        return self.trace.digest(f"{self._root}/{path}")

    def cached(self, action: Action, input_digests: dict[str, str], restore: bool = True) -> ActionRecord | None:
        """The record of a local action-cache hit (outputs in place), or an
        EXECUTED record (key computed) for the action still to run; None for a
        hit whose outputs must be copied from the store, when not `restore`."""
        try:
            return self._lookup(action, input_digests, restore)
        except _NeedsCopy:
            return None

    def untouched(self, graph, needed, examine: set[str]):
        """The needed actions no seed reaches, reused as one set (engine.rebuild.untouched)."""
        return untouched(graph, needed, examine, self.trace)

    @staticmethod
    def reused(action: Action, decision) -> ActionRecord:
        """The record of an action reused unexamined (an engine.rebuild.Untouched's decision)."""
        return ActionRecord(action, CACHED, decision.key, decision.material, outputs=decision.outputs,
                            executable=decision.executable, log_digests=decision.log_digests,
                            reason=decision.reason)

    def run(self, action: Action, input_digests: dict[str, str], record: ActionRecord | None = None) -> ActionRecord:
        """The action's record once its outputs are in place: from a cache, or run."""
        if record is None:
            record = self.cached(action, input_digests)
            if record.status == CACHED:
                return record
        material, key = record.material, record.key
        if self.use_cache and action.id not in self.uncached and self.remote is not None:
            hit = self.remote.lookup(action, material)
            declared = {a.path for a in action.outputs}
            if hit is not None and declared - action.optional_outputs <= set(hit.outputs) <= declared:
                self._store_result(record, key, hit)
                record.status, record.remote = CACHED, True
                return record
        result = self.runner.run(action, input_digests)
        record.duration, record.stdout, record.stderr, record.remote = result.duration, result.stdout, result.stderr, result.remote
        outputs = result.digests if result.digests is not None else \
            {path: self.store.put_bytes(data) for path, data in result.outputs.items()}
        if self.expected is not None:
            self._compare_with_expected(action, outputs, result.outputs)
        if not result.remote:
            # A source edited while the action ran must not be cached under its
            # old digest: hash the workspace files again.
            for art in action.inputs:
                if art.is_source and digest_file(self.ws.root / art.path) != input_digests[art.path]:
                    raise SourceChanged(f"{action.describe()}: source `{art.path}` changed while the action ran; run the build again")
        cached = CachedResult(outputs, self.store.put_bytes(result.stdout), self.store.put_bytes(result.stderr),
                              result.executable)
        self.store.put_action(key, cached)
        record.log_digests = (cached.stdout, cached.stderr)
        for path, digest in outputs.items():
            self._materialize(path, digest, None if result.digests is not None else result.outputs[path],
                              executable=path in result.executable)
        record.outputs, record.executable = outputs, result.executable
        if self.remote is not None and not result.remote:
            self.remote.upload(action, material, RemoteResult(dict(result.outputs), result.stdout, result.stderr))
        return record

    def _materialize(self, path: str, digest: str, data: bytes | None = None, restore: bool = True,
                     executable: bool = False) -> None:
        full = f"{self._root}/{path}"
        try:
            # Stat first; the trace re-hashes only an output whose stat changed.
            st = os.lstat(full)
            if stat.S_ISREG(st.st_mode) and self.trace.digest(full, st) == digest:
                if bool(st.st_mode & 0o100) == executable:
                    return
                if restore:
                    os.chmod(full, 0o755 if executable else 0o644)
                    return
        except OSError:
            pass
        if not restore:
            raise _NeedsCopy(path)
        dest = self.ws.root / path
        if data is not None:
            dest.parent.mkdir(parents=True, exist_ok=True)
            try:  # as Store.materialize: not renamed over the old one (ext4 would write it out at once)
                os.unlink(full)
            except OSError:
                pass
            _atomic_write(dest, data)
        elif not self.store.materialize(digest, dest, executable):
            raise ActionError(f"cached output `{path}` is missing from the store; run `wasmelt clean` and build again")

    def _lookup(self, action: Action, input_digests: dict[str, str], restore: bool, trust_trace=True) -> ActionRecord:
        decision = decide(action, input_digests, self.trace, self.store,
                          use_cache=self.use_cache and self.expected is None and action.id not in self.uncached,
                          trust_trace=trust_trace)
        if decision.reuse:
            try:
                for path, digest in decision.outputs.items():
                    # The trace vouches for outputs in place; restoring one goes
                    # through the action cache, whose entries are verified on read.
                    self._materialize(path, digest, restore=restore and not decision.from_trace,
                                      executable=path in decision.executable)
                return ActionRecord(action, CACHED, decision.key, decision.material, outputs=decision.outputs,
                                    executable=decision.executable, log_digests=decision.log_digests,
                                    reason=decision.reason)
            except _NeedsCopy:
                if decision.from_trace:
                    return self._lookup(action, input_digests, restore, trust_trace=False)
                raise
            except ActionError:  # a blob vanished between the lookup and the copy
                if decision.from_trace:
                    return self._lookup(action, input_digests, restore, trust_trace=False)
                return ActionRecord(action, EXECUTED, decision.key, decision.material,
                                    reason="its cached outputs were missing from the store")
        return ActionRecord(action, EXECUTED, decision.key, decision.material, reason=decision.reason)

    def _compare_with_expected(self, action: Action, outputs: dict[str, str], blobs: dict[str, bytes]) -> None:
        for path, digest in sorted(outputs.items()):
            want = self.expected.get(path)
            if want is None or want == digest:
                continue
            before = self.store.get_bytes(want) or b""
            after = blobs[path]
            offset = next((i for i, (x, y) in enumerate(zip(before, after)) if x != y), min(len(before), len(after)))
            raise NonDeterministic(
                f"{action.describe()} is not deterministic: re-running it changed `{path}` "
                f"(first difference at byte offset {offset}; sizes {len(before)} and {len(after)}). "
                "Remove the source of variation (timestamps, paths, randomness, file order) from the command")

    def _store_result(self, record: ActionRecord, key: str, result: RemoteResult) -> None:
        """Keep a remote result locally: CAS, action cache, outputs."""
        outputs = {path: self.store.put_bytes(data) for path, data in result.outputs.items()}
        cached = CachedResult(outputs, self.store.put_bytes(result.stdout), self.store.put_bytes(result.stderr))
        self.store.put_action(key, cached)
        for path, digest in outputs.items():
            self._materialize(path, digest, result.outputs[path])
        record.outputs, record.stdout, record.stderr = outputs, result.stdout, result.stderr
        record.log_digests = (cached.stdout, cached.stderr)
