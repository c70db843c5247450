"""A client for the Bazel HTTP cache protocol: GET/PUT <base>/ac/<sha256>
(a serialized REAPI ActionResult) and <base>/cas/<sha256>, as bazel-remote,
nginx with WebDAV and most HTTP caches serve it."""

from __future__ import annotations

import base64
import http.client
import socket
import ssl
import threading
import urllib.parse

from .grpc_client import RemoteFault
from .protos import messages


def _deadline(conn: http.client.HTTPConnection, seconds: float) -> threading.Timer:
    """--remote_timeout bounds the whole call: at the deadline the socket is
    shut, so a server trickling bytes (each read within the socket timeout)
    cannot keep the build waiting."""
    def expire() -> None:
        timer.expired = True
        sock = conn.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    timer = threading.Timer(seconds, expire)
    timer.expired = False
    timer.daemon = True
    timer.start()
    return timer


class HttpClient:
    def __init__(self, url: str, headers: dict[str, str], timeout: float, tls: dict[str, bytes] | None = None):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise ValueError(f"unsupported scheme `{parts.scheme}://`; use http:// or https://")
        self.scheme, self.host, self.port = parts.scheme, parts.hostname or "", parts.port
        self.base = parts.path.rstrip("/")
        self.headers = dict(headers)
        if parts.username is not None:  # http://user:password@host/ -> basic auth, never shown
            creds = f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
            self.headers.setdefault("authorization", "Basic " + base64.b64encode(creds.encode()).decode())
        self.address = f"{self.host}:{self.port}" if self.port else self.host
        self.timeout = timeout
        self._local = threading.local()
        self._context = _tls_context(tls or {}) if self.scheme == "https" else None

    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if self.scheme == "https":
                conn = http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout, context=self._context)
            else:
                conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            self._local.conn = conn
        return conn

    def _request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        headers = dict(self.headers)
        if body is not None:
            headers["content-type"] = "application/octet-stream"
        for attempt in (0, 1):  # a kept-alive connection the server closed is retried once
            conn = self._connection()
            timer = _deadline(conn, self.timeout)
            try:
                try:
                    conn.request(method, f"{self.base}/{path}", body=body, headers=headers)
                    response = conn.getresponse()
                    data = response.read()
                finally:
                    timer.cancel()
                if timer.expired:
                    raise TimeoutError(f"no whole answer within --remote_timeout={self.timeout:g}s")
                if response.getheader("connection", "").lower() == "close":
                    conn.close()
                    self._local.conn = None
                return response.status, data
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as e:
                conn.close()
                self._local.conn = None
                if attempt or timer.expired:
                    why = f"no whole answer within --remote_timeout={self.timeout:g}s" if timer.expired else e
                    raise RemoteFault(f"{method} /{path.split('/')[0]}: {why}") from None
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                self._local.conn = None
                why = f"no whole answer within --remote_timeout={self.timeout:g}s" if timer.expired else e or type(e).__name__
                raise RemoteFault(f"{method} /{path.split('/')[0]}: {why}") from None
        raise AssertionError("unreachable")

    def _get(self, path: str) -> bytes | None:
        status, data = self._request("GET", path)
        if status == 404:
            return None
        if status != 200:
            raise RemoteFault(f"GET /{path.split('/')[0]}: HTTP {status}")
        return data

    def _put(self, path: str, data: bytes) -> None:
        status, _ = self._request("PUT", path, data)
        if status not in (200, 201, 204):
            raise RemoteFault(f"PUT /{path.split('/')[0]}: HTTP {status}")

    def check(self) -> None:
        pass

    def get_action_result(self, digest):
        data = self._get(f"ac/{digest.hash}")
        if data is None:
            return None
        result = messages().ActionResult()
        try:
            result.ParseFromString(data)
        except Exception:
            raise RemoteFault(f"the action cache entry {digest.hash[:12]} is not an ActionResult") from None
        return result

    def update_action_result(self, digest, result) -> None:
        self._put(f"ac/{digest.hash}", result.SerializeToString(deterministic=True))

    def upload(self, blobs: dict[str, bytes], force: set[str] = frozenset()) -> None:
        for sha, data in sorted(blobs.items()):
            self._put(f"cas/{sha}", data)

    def download(self, digests: dict[str, int]) -> dict[str, bytes]:
        found = {}
        for sha in sorted(digests):
            data = self._get(f"cas/{sha}")
            if data is not None:
                found[sha] = data
        return found

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()


def _tls_context(tls: dict[str, bytes]) -> ssl.SSLContext:
    context = ssl.create_default_context(cadata=tls["ca"].decode("ascii", "replace") if "ca" in tls else None)
    if "cert" in tls:
        import os
        import tempfile

        # ssl loads a client certificate only from files.
        with tempfile.TemporaryDirectory(prefix="wasmelt-tls-") as tmp:
            cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
            for path, data in ((cert, tls["cert"]), (key, tls["key"])):
                fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
            context.load_cert_chain(cert, key)
    return context
