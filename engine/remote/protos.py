"""The REAPI message classes: reapi.proto compiled by grpcio-tools' protoc on
first use into a private descriptor pool (no generated files, no clash with
other copies of the same protos in the process)."""

from __future__ import annotations

import functools
import tempfile
import threading
from pathlib import Path
from types import SimpleNamespace

PACKAGE = "build.bazel.remote.execution.v2"
PROTO = Path(__file__).with_name("reapi.proto")


_compile_lock = threading.Lock()


def messages() -> SimpleNamespace:
    """Every message of reapi.proto by its short name (Digest, Action, ...)."""
    # One set of classes per process: executor threads racing on the first
    # call would each build a pool, and a Digest of one is not a Digest of the other.
    with _compile_lock:
        return _compile()


@functools.cache
def _compile() -> SimpleNamespace:
    import grpc_tools
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
    from grpc_tools import protoc

    includes = Path(grpc_tools.__file__).parent / "_proto"
    with tempfile.TemporaryDirectory(prefix="wasmelt-reapi-") as tmp:
        out = Path(tmp) / "reapi.desc"
        code = protoc.main(["protoc", f"-I{PROTO.parent}", f"-I{includes}", "--include_imports",
                            f"--descriptor_set_out={out}", PROTO.name])
        if code != 0:
            raise RuntimeError(f"protoc could not compile {PROTO} (exit code {code})")
        files = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file
    pool = descriptor_pool.DescriptorPool()
    classes = message_factory.GetMessages(list(files), pool=pool)
    prefix = PACKAGE + "."
    return SimpleNamespace(**{name[len(prefix):].replace(".", "_"): cls
                              for name, cls in classes.items() if name.startswith(prefix)})
