"""Beyond one machine: a shared cache (REAPI over gRPC, or the Bazel HTTP
cache protocol) and remote execution over REAPI. See docs/remote.md."""

from __future__ import annotations

from ..errors import ConfigError

DEFAULT_TIMEOUT = 60.0


def connect(*, cache: str | None = None, executor: str | None = None, instance_name: str = "",
            headers: dict[str, str] | None = None, timeout: float = DEFAULT_TIMEOUT,
            tls: dict[str, str | None] | None = None):
    """The remote backend for --remote_cache / --remote_executor URLs; `tls`
    may name PEM files: "ca" (trusted roots), "cert" and "key" (client)."""
    try:
        from .backend import Remote
        from .grpc_client import GrpcClient
        from .http_client import HttpClient
    except ImportError as e:
        raise ConfigError(f"remote caching needs the `remote` extra ({e.name} is missing); "
                          "install it with: pip install 'wasmelt[remote]'") from None
    headers = dict(headers or {})
    tls = _read_tls(tls or {})

    def client(url: str, flag: str):
        scheme = url.partition("://")[0] if "://" in url else ""
        try:
            if scheme in ("grpc", "grpcs"):
                return GrpcClient(url, instance_name, headers, timeout, tls)
            if scheme in ("http", "https") and flag == "--remote_cache":
                return HttpClient(url, headers, timeout, tls)
        except (ValueError, OSError) as e:  # a bad scheme, unusable TLS files
            raise ConfigError(f"{flag}: {e}") from None
        allowed = "grpc://, grpcs://, http:// or https://" if flag == "--remote_cache" else "grpc:// or grpcs://"
        raise ConfigError(f"{flag} takes a URL starting with {allowed}; got `{url.split('@')[-1]}`")

    exec_client = client(executor, "--remote_executor") if executor else None
    cache_client = client(cache, "--remote_cache") if cache else exec_client
    return Remote(cache_client, exec_client)


def _read_tls(files: dict[str, str | None]) -> dict[str, bytes]:
    """The PEM files' contents, read up front so a wrong path is a clear error."""
    flags = {"ca": "--tls_certificate", "cert": "--tls_client_certificate", "key": "--tls_client_key"}
    found = {}
    for name, path in files.items():
        if not path:
            continue
        try:
            with open(path, "rb") as f:
                found[name] = f.read()
        except OSError as e:
            raise ConfigError(f"{flags.get(name, name)}: cannot read `{path}`: {e.strerror}") from None
    if ("cert" in found) != ("key" in found):
        raise ConfigError("--tls_client_certificate and --tls_client_key go together")
    return found
