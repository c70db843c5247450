"""A REAPI v2 client over gRPC: Capabilities, ContentAddressableStorage,
ActionCache, ByteStream for large blobs, and Execution."""

from __future__ import annotations

import uuid

from .protos import messages

V2 = "/build.bazel.remote.execution.v2."
BATCH_LIMIT = 2 << 20  # bytes per batch call; larger blobs go through ByteStream
CHUNK = 1 << 20
MAX_MESSAGE = 64 << 20
SHA256 = 1  # DigestFunction.SHA256


class RemoteFault(Exception):
    """The remote side failed (unreachable, timed out, refused, malformed)."""


def _describe(e: Exception) -> str:
    import grpc

    if isinstance(e, grpc.RpcError) and hasattr(e, "code"):
        code = e.code()
        detail = (e.details() or "").splitlines()[0][:200] if e.details() else ""
        return f"{code.name if code else 'error'}{': ' + detail if detail else ''}"
    return str(e)[:200]


class GrpcClient:
    def __init__(self, url: str, instance_name: str, headers: dict[str, str], timeout: float,
                 tls: dict[str, bytes] | None = None):
        import grpc

        scheme, _, address = url.partition("://")
        options = [("grpc.max_receive_message_length", MAX_MESSAGE), ("grpc.max_send_message_length", MAX_MESSAGE),
                   ("grpc.enable_retries", 0)]
        if scheme == "grpcs":
            tls = tls or {}
            credentials = grpc.ssl_channel_credentials(root_certificates=tls.get("ca"), private_key=tls.get("key"),
                                                       certificate_chain=tls.get("cert"))
            self.channel = grpc.secure_channel(address, credentials, options=options)
        elif scheme == "grpc":
            self.channel = grpc.insecure_channel(address, options=options)
        else:
            raise ValueError(f"unsupported scheme `{scheme}://`; use grpc:// or grpcs://")
        self.address = address
        self.instance = instance_name
        self.metadata = tuple(headers.items())
        self.timeout = timeout
        self.batch_limit = BATCH_LIMIT
        self._checked = False

    def _call(self, method: str, request, response_cls, stream: bool = False, timeout: float | None = None):
        import grpc

        kind = self.channel.unary_stream if stream else self.channel.unary_unary
        rpc = kind(method, request_serializer=lambda m: m.SerializeToString(),
                   response_deserializer=response_cls.FromString)
        try:
            result = rpc(request, metadata=self.metadata, timeout=timeout or self.timeout)
            return list(result) if stream else result
        except grpc.RpcError as e:
            if e.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise RemoteFault(f"{method.rsplit('/', 1)[-1]}: {_describe(e)}") from None

    def check(self) -> None:
        """Ask the server what it supports, once; SHA-256 is required."""
        if self._checked:
            return
        m = messages()
        try:
            caps = self._call(V2 + "Capabilities/GetCapabilities",
                              m.GetCapabilitiesRequest(instance_name=self.instance), m.ServerCapabilities)
        except RemoteFault as e:
            if "UNIMPLEMENTED" not in str(e):
                raise
            caps = None  # an older server: assume SHA-256 and the default limits
        if caps is not None and caps.HasField("cache_capabilities"):
            cache = caps.cache_capabilities
            if cache.digest_functions and SHA256 not in cache.digest_functions:
                raise RemoteFault("the server does not offer SHA-256 digests")
            if cache.max_batch_total_size_bytes:
                self.batch_limit = min(BATCH_LIMIT, cache.max_batch_total_size_bytes - (64 << 10))
        self._checked = True

    # -- action cache -----------------------------------------------------------

    def get_action_result(self, digest):
        m = messages()
        return self._call(V2 + "ActionCache/GetActionResult",
                          m.GetActionResultRequest(instance_name=self.instance, action_digest=digest,
                                                   inline_stdout=True, inline_stderr=True), m.ActionResult)

    def update_action_result(self, digest, result) -> None:
        m = messages()
        self._call(V2 + "ActionCache/UpdateActionResult",
                   m.UpdateActionResultRequest(instance_name=self.instance, action_digest=digest, action_result=result),
                   m.ActionResult)

    # -- CAS ----------------------------------------------------------------------

    def find_missing(self, digests: dict[str, int]) -> set[str]:
        m = messages()
        request = m.FindMissingBlobsRequest(instance_name=self.instance)
        for sha, size in digests.items():
            request.blob_digests.add(hash=sha, size_bytes=size)
        response = self._call(V2 + "ContentAddressableStorage/FindMissingBlobs", request, m.FindMissingBlobsResponse)
        return {d.hash for d in response.missing_blob_digests} if response is not None else set(digests)

    def upload(self, blobs: dict[str, bytes], force: set[str] = frozenset()) -> None:
        """Store blobs (sha256 -> data) the server does not have yet, and
        those in `force` anyway."""
        if not blobs:
            return
        missing = self.find_missing({sha: len(data) for sha, data in blobs.items()}) | (force & set(blobs))
        m = messages()
        batch, size = [], 0
        for sha in sorted(missing):
            data = blobs[sha]
            if len(data) > self.batch_limit:
                self._write(sha, data)
                continue
            if size + len(data) > self.batch_limit:
                self._batch_update(batch)
                batch, size = [], 0
            batch.append(m.BatchUpdateBlobsRequest.Request(digest=m.Digest(hash=sha, size_bytes=len(data)), data=data))
            size += len(data)
        self._batch_update(batch)

    def _batch_update(self, requests) -> None:
        if not requests:
            return
        m = messages()
        response = self._call(V2 + "ContentAddressableStorage/BatchUpdateBlobs",
                              m.BatchUpdateBlobsRequest(instance_name=self.instance, requests=requests),
                              m.BatchUpdateBlobsResponse)
        for r in response.responses if response is not None else ():
            if r.status.code != 0:
                raise RemoteFault(f"BatchUpdateBlobs refused {r.digest.hash[:12]}: {r.status.message[:200]}")

    def _write(self, sha: str, data: bytes) -> None:
        m = messages()
        prefix = f"{self.instance}/" if self.instance else ""
        name = f"{prefix}uploads/{uuid.uuid4()}/blobs/{sha}/{len(data)}"

        def chunks():
            offset = 0
            while True:
                piece = data[offset:offset + CHUNK]
                last = offset + len(piece) >= len(data)
                yield m.WriteRequest(resource_name=name if offset == 0 else "", write_offset=offset,
                                     finish_write=last, data=piece)
                offset += len(piece)
                if last:
                    return

        import grpc

        rpc = self.channel.stream_unary("/google.bytestream.ByteStream/Write",
                                        request_serializer=lambda r: r.SerializeToString(),
                                        response_deserializer=m.WriteResponse.FromString)
        try:
            rpc(chunks(), metadata=self.metadata, timeout=self.timeout)
        except grpc.RpcError as e:
            raise RemoteFault(f"ByteStream.Write: {_describe(e)}") from None

    def download(self, digests: dict[str, int]) -> dict[str, bytes]:
        """The blobs the server has, unverified (sha256 -> data)."""
        m = messages()
        found: dict[str, bytes] = {}
        batch, size = [], 0
        for sha, n in sorted(digests.items()):
            if n > self.batch_limit:
                data = self._read(sha, n)
                if data is not None:
                    found[sha] = data
                continue
            if size + n > self.batch_limit:
                found.update(self._batch_read(batch))
                batch, size = [], 0
            batch.append(m.Digest(hash=sha, size_bytes=n))
            size += n
        found.update(self._batch_read(batch))
        return found

    def _batch_read(self, digests) -> dict[str, bytes]:
        if not digests:
            return {}
        m = messages()
        response = self._call(V2 + "ContentAddressableStorage/BatchReadBlobs",
                              m.BatchReadBlobsRequest(instance_name=self.instance, digests=digests),
                              m.BatchReadBlobsResponse)
        return {r.digest.hash: r.data for r in (response.responses if response is not None else ()) if r.status.code == 0}

    def _read(self, sha: str, size: int) -> bytes | None:
        m = messages()
        prefix = f"{self.instance}/" if self.instance else ""
        parts = self._call("/google.bytestream.ByteStream/Read",
                           m.ReadRequest(resource_name=f"{prefix}blobs/{sha}/{size}"), m.ReadResponse, stream=True)
        return None if parts is None else b"".join(p.data for p in parts)

    # -- execution ------------------------------------------------------------

    def execute(self, action_digest, timeout: float):
        """Run the action; the ExecuteResponse of the finished operation."""
        m = messages()
        operations = self._call(V2 + "Execution/Execute",
                                m.ExecuteRequest(instance_name=self.instance, action_digest=action_digest,
                                                 digest_function=SHA256),
                                m.Operation, stream=True, timeout=timeout)
        done = [op for op in operations or () if op.done]
        if not done:
            raise RemoteFault("Execute: the operation stream ended before the action finished")
        op = done[-1]
        if op.HasField("error"):
            raise RemoteFault(f"Execute: {op.error.message[:200] or f'status {op.error.code}'}")
        response = m.ExecuteResponse()
        if not op.response.type_url.endswith("/build.bazel.remote.execution.v2.ExecuteResponse"):
            raise RemoteFault(f"Execute: unexpected response type {op.response.type_url[:100]}")
        response.ParseFromString(op.response.value)
        return response

    def close(self) -> None:
        self.channel.close()
