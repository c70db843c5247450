"""Beyond one machine: a shared cache (REAPI over gRPC, or the Bazel HTTP
cache protocol) and remote execution over REAPI. See docs/remote.md."""

from __future__ import annotations

from ..errors import ConfigError

DEFAULT_TIMEOUT = 60.0


def connect(*, cache: str | None = None, executor: str | None = None, instance_name: str = "",
            headers: dict[str, str] | None = None, timeout: float = DEFAULT_TIMEOUT):
    """The remote backend for --remote_cache / --remote_executor URLs."""
    try:
        from .backend import Remote
        from .grpc_client import GrpcClient
        from .http_client import HttpClient
    except ImportError as e:
        raise ConfigError(f"remote caching needs the `remote` extra ({e.name} is missing); "
                          "install it with: pip install 'wasmelt[remote]'") from None
    headers = dict(headers or {})

    def client(url: str, flag: str):
        scheme = url.partition("://")[0] if "://" in url else ""
        try:
            if scheme in ("grpc", "grpcs"):
                return GrpcClient(url, instance_name, headers, timeout)
            if scheme in ("http", "https") and flag == "--remote_cache":
                return HttpClient(url, headers, timeout)
        except ValueError as e:
            raise ConfigError(f"{flag}: {e}") from None
        allowed = "grpc://, grpcs://, http:// or https://" if flag == "--remote_cache" else "grpc:// or grpcs://"
        raise ConfigError(f"{flag} takes a URL starting with {allowed}; got `{url.split('@')[-1]}`")

    exec_client = client(executor, "--remote_executor") if executor else None
    cache_client = client(cache, "--remote_cache") if cache else exec_client
    return Remote(cache_client, exec_client)
