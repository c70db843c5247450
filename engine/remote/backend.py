"""The executor's remote backend: looks actions up in a shared action cache,
uploads local results, runs actions on a REAPI executor; verifies every blob
it returns and turns any remote fault into one warning and a local build."""

from __future__ import annotations

import threading
from pathlib import Path

from ..actions import Action
from ..runner import RemoteBackend, RemoteResult
from ..store import DIGEST_MAP_DIR
from .grpc_client import RemoteFault
from .protos import messages
from .request import DigestMap, Request, make_request, proto_digest, serialize, sha256


class RemoteError(Exception):
    """The remote's answer cannot be used (a blob that fails its digest...)."""

    def __init__(self, message: str, reported: bool = False):
        super().__init__(message)
        self.reported = reported  # the same fault was already warned about


class Remote(RemoteBackend):
    def __init__(self, cache, executor=None, *, exec_timeout: float = 600.0):
        self.cache = cache  # a GrpcClient or HttpClient: action cache + CAS
        self.executor = executor  # a GrpcClient serving Execution (and its CAS), or None
        self.can_execute = executor is not None
        self.exec_timeout = exec_timeout
        self.warnings: list[str] = []
        self.down = False  # after a fault, the rest of the build stays local
        self.stats = {"hits": 0, "misses": 0, "uploads": 0, "executed": 0, "rejected": 0}
        self._lock = threading.Lock()
        self._rejected: set[str] = set()  # hashes of blobs that failed verification
        self._digests: DigestMap | None = None
        self._store = None
        self._root: Path | None = None

    # -- wiring -----------------------------------------------------------------

    def attach(self, store, root: Path) -> None:
        self._store, self._root = store, root
        self._digests = DigestMap(store.root / DIGEST_MAP_DIR)

    def _warn(self, text: str) -> None:
        with self._lock:
            if text not in self.warnings:
                self.warnings.append(text)

    def _fault(self, server, e: Exception) -> None:
        with self._lock:
            first = not self.down
            self.down = True
        if first:
            self._warn(f"{server.address} is unusable ({e}); building locally from here on")

    def _count(self, what: str) -> None:
        with self._lock:
            self.stats[what] += 1

    def _inputs(self, material: dict, data: dict[str, bytes] | None = None) -> dict[str, tuple[str, int]] | None:
        """path -> (sha256, size) for every input; None if one is unreadable."""
        found = {}
        for path, xx in material["inputs"].items():
            read = (lambda d=data[path]: d) if data is not None else (lambda p=path, x=xx: self._read_input(p, x))
            hit = self._digests.get(xx, read)
            if hit is None:
                return None
            found[path] = hit
        return found

    def _read_input(self, path: str, xx: str) -> bytes | None:
        data = self._store.get_bytes(xx)
        if data is None:
            try:
                data = (self._root / path).read_bytes()
            except OSError:
                return None
        return data

    def _request(self, action: Action, material: dict, data=None, executable=False) -> Request | None:
        if self._digests is None:
            return None
        inputs = self._inputs(material, data)
        return None if inputs is None else make_request(action, material, inputs, executable=executable)

    # -- results ------------------------------------------------------------------

    def _fetch(self, server, result, declared: set[str], what: str) -> RemoteResult:
        """The verified outputs and logs an ActionResult names."""
        wanted: dict[str, int] = {}
        for f in result.output_files:
            if f.path not in declared:
                raise RemoteError(f"{what}: the remote result names undeclared output `{f.path}`")
            wanted[f.digest.hash] = f.digest.size_bytes
        for d in (result.stdout_digest, result.stderr_digest):
            if d.hash:
                wanted[d.hash] = d.size_bytes
        blobs = server.download({h: n for h, n in wanted.items() if n > 0})
        blobs[sha256(b"")] = b""

        def verified(digest, label: str) -> bytes:
            data = blobs.get(digest.hash)
            if data is None:
                raise RemoteError(f"{what}: blob for {label} is missing from the remote cache")
            if len(data) != digest.size_bytes or sha256(data) != digest.hash:
                self._count("rejected")
                with self._lock:
                    seen = digest.hash in self._rejected
                    self._rejected.add(digest.hash)
                raise RemoteError(f"{what}: the remote blob for {label} does not match its digest "
                                  f"{digest.hash[:12]}...; rejected, building locally", reported=seen)
            return data

        outputs = {f.path: verified(f.digest, f"`{f.path}`") for f in result.output_files}
        stdout = result.stdout_raw or (verified(result.stdout_digest, "stdout") if result.stdout_digest.hash else b"")
        stderr = result.stderr_raw or (verified(result.stderr_digest, "stderr") if result.stderr_digest.hash else b"")
        return RemoteResult(outputs, stdout, stderr, result.exit_code)

    def _action_result(self, result: RemoteResult):
        m = messages()
        out = m.ActionResult(exit_code=result.exit_code, stdout_digest=proto_digest(result.stdout),
                             stderr_digest=proto_digest(result.stderr))
        for path in sorted(result.outputs):
            out.output_files.add(path=path, digest=proto_digest(result.outputs[path]))
        blobs = {sha256(d): d for d in (*result.outputs.values(), result.stdout, result.stderr)}
        return out, blobs

    # -- RemoteBackend ----------------------------------------------------------------

    def lookup(self, action: Action, material: dict) -> RemoteResult | None:
        if self.down:
            return None
        try:
            self.cache.check()
            request = self._request(action, material)
            if request is None:
                return None
            result = self.cache.get_action_result(request.action_digest)
            if result is None or result.exit_code != 0:
                self._count("misses")
                return None
            hit = self._fetch(self.cache, result, set(request.outputs), action.describe())
            self._count("hits")
            return hit
        except RemoteError as e:
            if not e.reported:
                self._warn(str(e))
            return None
        except RemoteFault as e:
            self._fault(self.cache, e)
            return None

    def upload(self, action: Action, material: dict, result: RemoteResult) -> None:
        if self.down:
            return
        try:
            request = self._request(action, material)
            if request is None:
                return
            self._publish(request, result)
            self._count("uploads")
        except RemoteFault as e:
            self._fault(self.cache, e)

    def _publish(self, request: Request, result: RemoteResult, with_outputs: bool = True) -> None:
        """Store the result under the request's action in the cache; the
        protocol wants the Action and Command in the CAS first."""
        proto, blobs = self._action_result(result)
        if not with_outputs:
            blobs = {}
        blobs[sha256(request.action)] = request.action
        blobs[sha256(request.command)] = request.command
        with self._lock:
            damaged = self._rejected & set(blobs)
        # A blob the remote returned damaged is written again, whatever
        # FindMissingBlobs says, so the next reader gets good bytes.
        self.cache.upload(blobs, force=damaged)
        self.cache.update_action_result(request.action_digest, proto)

    def execute(self, action: Action, material: dict, inputs: dict[str, bytes]) -> RemoteResult | None:
        """Run the action on the executor; None (after one warning) if the
        executor cannot, so the action runs locally instead."""
        if self.down:
            return None
        server = self.executor
        try:
            server.check()
            request = self._request(action, material, inputs, executable=True)
            if request is None:
                return None
            blobs = dict(request.directories)
            blobs.update({sha256(data): data for data in inputs.values()})
            blobs[sha256(request.action)] = request.action
            blobs[sha256(request.command)] = request.command
            server.upload(blobs)
            response = server.execute(request.action_digest, action.timeout or self.exec_timeout)
            if response.status.code != 0:
                raise RemoteFault(f"Execute: {response.status.message[:200] or f'status {response.status.code}'}")
            result = self._fetch(server, response.result, set(request.outputs), action.describe())
            self._count("executed")
            if result.exit_code == 0 and self.cache is not None:
                # Publish under the machine-independent cache form too, so a
                # later lookup (from any machine) finds it.
                cache_request = self._request(action, material, inputs)
                try:
                    if self.cache is not server:
                        self._publish(cache_request, result)
                    else:
                        self._publish(cache_request, result, with_outputs=False)
                except RemoteFault as e:
                    self._warn(f"could not store the remote result in the cache ({e})")
            return result
        except RemoteError as e:
            if not e.reported:
                self._warn(str(e))
            return None
        except RemoteFault as e:
            self._fault(server, e)
            return None

    def close(self) -> None:
        for client in {id(c): c for c in (self.cache, self.executor) if c is not None}.values():
            client.close()
