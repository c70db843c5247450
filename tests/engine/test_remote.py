"""The remote cache and remote execution against real servers on 127.0.0.1:
BuildGrid (REAPI over gRPC), nginx with WebDAV (the Bazel HTTP cache
protocol) and buildbox-casd with its bubblewrap runner (REAPI Execution)."""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import shutil
import socket
import sys
import threading
from pathlib import Path

import pytest

from conftest import REPO, Workspace
from remote_servers import buildbox_casd, buildgrid, free_port, nginx_webdav, self_signed_certificate

BIG = 3_000_000  # above the gRPC batch limit: goes through ByteStream


def _two_workspaces(tmp_path: Path, make) -> tuple[Workspace, Workspace]:
    """Two checkouts of the same sources, in different places, each with its
    own local cache."""
    pair = []
    for name in ("a", "b"):
        ws = Workspace(tmp_path / f"ws-{name}", tmp_path / f"cache-{name}")
        ws.write("BUILD.toml", '[workspace]\nname = "test"\n')
        make(ws)
        pair.append(ws)
    return pair[0], pair[1]


def _outputs(ws: Workspace) -> dict[str, bytes]:
    out = ws.root / "wasmelt-out"
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def _warnings(run) -> list[str]:
    return [line for line in run.err.splitlines() if line.startswith("WARNING: remote:")]


def _events(path: Path) -> list[dict]:
    return [e for e in map(json.loads, path.read_text().splitlines()) if e.get("event") == "action_finished"]


def _simple(ws: Workspace) -> None:
    ws.write("pkg/in.txt", "hello remote world\n")
    ws.write("pkg/BUILD.toml", f"""
        [[genrule]]
        name = "upper"
        srcs = ["in.txt"]
        outs = ["upper.txt"]
        cmd = "tr a-z A-Z < $(SRCS) > $(OUT); echo upper done"

        [[genrule]]
        name = "first_word"
        srcs = [":upper"]
        outs = ["word.txt"]
        cmd = "cut -d' ' -f1 $(SRCS) > $(OUT)"

        [[genrule]]
        name = "big"
        srcs = [":upper"]
        outs = ["big.bin"]
        cmd = "head -c {BIG} /dev/zero | tr '\\\\0' x > $(OUT); cat $(SRCS) >> $(OUT)"

        [[genrule]]
        name = "nested"
        srcs = [":first_word"]
        outs = ["deep/a.txt", "deep/er/b.txt"]
        cmd = "cp $(SRCS) $(@D)/a.txt; wc -c < $(SRCS) > $(@D)/er/b.txt"
    """)


# -- the REAPI cache (BuildGrid) ------------------------------------------------


def test_buildgrid_cache_serves_every_action_to_a_clean_second_workspace(tmp_path):
    a, b = _two_workspaces(tmp_path, _simple)
    with buildgrid(tmp_path / "bgd") as (url, _):
        first = a.run("build", "//...", f"--remote_cache={url}")
        assert first.code == 0, first.err
        assert first.counts == {"total": 4, "executed": 4, "cached": 0}
        second = b.run("build", "//...", f"--remote_cache={url}", "--build_event_json_file=ev.json")
    assert second.code == 0, second.err
    assert second.counts == {"total": 4, "executed": 0, "cached": 4}
    assert all(e["remote"] for e in _events(b.root / "ev.json"))
    assert _outputs(b) == _outputs(a)
    assert len(_outputs(b)["pkg/big/big.bin"]) > BIG  # came through ByteStream
    assert not _warnings(first) and not _warnings(second)


def test_corrupt_blob_from_buildgrid_is_rejected_and_rebuilt_locally(tmp_path):
    a, b = _two_workspaces(tmp_path, _simple)
    with buildgrid(tmp_path / "bgd") as (url, cas):
        assert a.run("build", "//...", f"--remote_cache={url}").code == 0
        word = (a.root / "wasmelt-out/pkg/first_word/word.txt").read_bytes()
        blob = cas / "cas" / "objects" / hashlib.sha256(word).hexdigest()[:2] / hashlib.sha256(word).hexdigest()[2:]
        assert blob.is_file(), sorted(p.name for p in cas.rglob("*"))[:20]
        blob.write_bytes(b"EVIL\n")  # same size, other bytes
        run = b.run("build", "//...", f"--remote_cache={url}")
    assert run.code == 0, run.err
    # `nested` copies word.txt: both actions meet the damaged blob (BuildGrid
    # keeps the first copy of a blob), both run locally, one warning.
    assert run.counts == {"total": 4, "executed": 2, "cached": 2}
    [warning] = _warnings(run)
    assert "does not match its digest" in warning
    assert b.read("wasmelt-out/pkg/first_word/word.txt") == "HELLO\n"
    # Nothing wrong reached the local cache: offline, everything is a local hit.
    again = b.run("build", "//...")
    assert again.counts == {"total": 4, "executed": 0, "cached": 4}
    assert _outputs(b) == _outputs(a)
    assert b.run("cache", "verify").code == 0


# -- the Bazel HTTP cache (nginx + WebDAV) --------------------------------------------


def test_http_cache_on_nginx_serves_every_action_to_a_clean_second_workspace(tmp_path):
    a, b = _two_workspaces(tmp_path, _simple)
    with nginx_webdav(tmp_path / "nginx") as (url, data):
        first = a.run("build", "//...", f"--remote_cache={url}")
        assert first.code == 0, first.err
        second = b.run("build", "//...", f"--remote_cache={url}")
    assert second.code == 0, second.err
    assert second.counts == {"total": 4, "executed": 0, "cached": 4}
    assert _outputs(b) == _outputs(a)
    # The protocol's layout: 4 ActionResults, every output under its SHA-256.
    assert len(list((data / "ac").iterdir())) == 4
    for blob in _outputs(a).values():
        assert (data / "cas" / hashlib.sha256(blob).hexdigest()).read_bytes() == blob


def test_cache_gc_prunes_the_sha256_shortcuts_of_what_it_removes(tmp_path):
    a, _ = _two_workspaces(tmp_path, _simple)
    shortcuts = a.cache / "sha256"
    with nginx_webdav(tmp_path / "nginx") as (url, _):
        assert a.run("build", "//...", f"--remote_cache={url}").code == 0
        assert len(list(shortcuts.glob("*/*"))) == 3  # every file an action reads: in, upper, word
        assert a.run("cache", "gc", "--max-size", "1G").code == 0
        kept = {p.parent.name + p.name for p in shortcuts.glob("*/*")}
        assert kept and kept <= {p.parent.name + p.name for p in (a.cache / "cas").glob("*/*")}
        assert a.run("cache", "gc", "--max-size", "0").code == 0
        assert not list(shortcuts.glob("*/*"))
        assert a.run("clean").code == 0
        again = a.run("build", "//...", f"--remote_cache={url}")
    assert again.code == 0, again.err
    assert again.counts == {"total": 4, "executed": 0, "cached": 4}
    assert not _warnings(again)


def test_corrupt_blob_from_http_cache_is_rejected_and_rebuilt_locally(tmp_path):
    a, b = _two_workspaces(tmp_path, _simple)
    with nginx_webdav(tmp_path / "nginx") as (url, data):
        assert a.run("build", "//...", f"--remote_cache={url}").code == 0
        big = (a.root / "wasmelt-out/pkg/big/big.bin").read_bytes()
        damaged = data / "cas" / hashlib.sha256(big).hexdigest()
        damaged.write_bytes(big[:-2] + b"?\n")
        run = b.run("build", "//...", f"--remote_cache={url}")
        assert damaged.read_bytes() == big  # the local rebuild wrote the good bytes back
    assert run.code == 0, run.err
    assert run.counts == {"total": 4, "executed": 1, "cached": 3}
    [warning] = _warnings(run)
    assert "does not match its digest" in warning and "big.bin" in warning
    assert b.run("build", "//...").counts["executed"] == 0
    assert _outputs(b) == _outputs(a)


def test_https_cache_trusts_the_certificate_it_is_given(tmp_path):
    a, b = _two_workspaces(tmp_path, _simple)
    c = Workspace(tmp_path / "ws-c", tmp_path / "cache-c")
    c.write("BUILD.toml", '[workspace]\nname = "test"\n')
    _simple(c)
    cert, key = self_signed_certificate(tmp_path / "tls")
    with nginx_webdav(tmp_path / "nginx", tls=(cert, key)) as (url, _):
        first = a.run("build", "//...", f"--remote_cache={url}", f"--tls_certificate={cert}")
        untrusted = b.run("build", "//...", f"--remote_cache={url}")
        third = c.run("build", "//...", f"--remote_cache={url}", f"--tls_certificate={cert}")
    assert first.code == 0 and not _warnings(first), first.err
    assert untrusted.code == 0 and untrusted.counts["executed"] == 4
    [warning] = _warnings(untrusted)
    assert "CERTIFICATE_VERIFY_FAILED" in warning
    assert third.counts == {"total": 4, "executed": 0, "cached": 4} and not _warnings(third)
    assert _outputs(c) == _outputs(a)


def test_remote_executor_that_is_down_hands_actions_back(workspace):
    _simple(workspace)
    run = workspace.run("build", "//...", f"--remote_executor=grpc://127.0.0.1:{free_port()}", "--remote_timeout=5")
    assert run.code == 0, run.err
    assert run.counts == {"total": 4, "executed": 4, "cached": 0}
    assert len(_warnings(run)) == 1


# -- faults: down, slow, headers ---------------------------------------------------------


@pytest.mark.parametrize("scheme", ["grpc", "http"])
def test_a_cache_that_is_down_is_reported_once_and_the_build_goes_on(workspace, scheme):
    _simple(workspace)
    run = workspace.run("build", "//...", f"--remote_cache={scheme}://127.0.0.1:{free_port()}", "--remote_timeout=5")
    assert run.code == 0, run.err
    assert run.counts == {"total": 4, "executed": 4, "cached": 0}
    [warning] = _warnings(run)
    assert "127.0.0.1" in warning and "building locally" in warning
    assert workspace.run("build", "//...").counts["executed"] == 0


def _silent_server():
    """Accepts connections and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    held = []
    stop = threading.Event()

    def serve():
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(sock.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return sock, stop, held


@pytest.mark.parametrize("scheme", ["grpc", "http"])
def test_a_cache_that_does_not_answer_times_out_once_and_the_build_goes_on(workspace, scheme):
    _simple(workspace)
    sock, stop, held = _silent_server()
    try:
        run = workspace.run("build", "//...", f"--remote_cache={scheme}://127.0.0.1:{sock.getsockname()[1]}",
                            "--remote_timeout=1")
    finally:
        stop.set()
        for conn in held:
            conn.close()
        sock.close()
    assert run.code == 0, run.err
    assert run.counts["executed"] == 4
    assert len(_warnings(run)) == 1


def test_remote_headers_are_sent_and_never_logged(workspace):
    seen: list[dict] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def _reply(self, code):
            seen.append(dict(self.headers))
            length = int(self.headers.get("content-length") or 0)
            self.rfile.read(length)
            self.send_response(code)
            self.send_header("content-length", "0")
            self.end_headers()

        def do_GET(self):
            self._reply(404)

        def do_PUT(self):
            self._reply(403)  # refuses the upload: the build reports it

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _simple(workspace)
    secret = "Bearer s3cr3t-t0ken"
    try:
        run = workspace.run("build", "//pkg:upper", f"--remote_cache=http://127.0.0.1:{server.server_port}/cache",
                            f"--remote_header=Authorization={secret}", "-v", "--build_event_json_file=ev.json")
    finally:
        server.shutdown()
        server.server_close()
    assert run.code == 0, run.err
    assert seen and all(h.get("authorization") == secret for h in seen)
    assert len(_warnings(run)) == 1 and "403" in _warnings(run)[0]
    logged = run.out + run.err + (workspace.root / "ev.json").read_text()
    assert "s3cr3t" not in logged


# -- remote execution (buildbox-casd + bubblewrap) ----------------------------------------------


def test_remote_execution_runs_genrules_to_the_same_bytes_as_a_local_build(tmp_path):
    local, remote = _two_workspaces(tmp_path, _simple)
    assert local.run("build", "//...").code == 0
    with buildbox_casd(tmp_path / "casd") as url:
        run = remote.run("build", "//...", f"--remote_executor={url}", "--build_event_json_file=ev.json")
        assert run.code == 0, run.err
        events = _events(remote.root / "ev.json")
        assert len(events) == 4 and all(e["remote"] and e["status"] == "executed" for e in events)
        assert _outputs(remote) == _outputs(local)
        # The executor's action cache now holds them: a clean third checkout
        # gets all of them without running anything.
        third = Workspace(tmp_path / "ws-c", tmp_path / "cache-c")
        third.write("BUILD.toml", '[workspace]\nname = "test"\n')
        _simple(third)
        again = third.run("build", "//...", f"--remote_executor={url}")
    assert again.counts == {"total": 4, "executed": 0, "cached": 4}
    assert not _warnings(run) and not _warnings(again)


def test_remote_execution_failure_is_the_actions_failure(tmp_path, workspace):
    workspace.write("pkg/BUILD.toml", """
        [[genrule]]
        name = "fails"
        outs = ["x.txt"]
        cmd = "echo broken on purpose >&2; exit 3"
    """)
    with buildbox_casd(tmp_path / "casd") as url:
        run = workspace.run("build", "//pkg:fails", f"--remote_executor={url}")
    assert run.code == 1
    assert "failed remotely (exit code 3)" in run.err and "broken on purpose" in run.err


def _example(ws: Workspace) -> None:
    shutil.copy(REPO / "BUILD.toml", ws.root / "BUILD.toml")
    shutil.copytree(REPO / "examples", ws.root / "examples")


def test_remote_execution_builds_the_example_to_the_same_bytes_as_a_local_build(tmp_path):
    local, remote = _two_workspaces(tmp_path, _example)
    assert local.run("build", "//examples/app/...").code == 0
    # The worker's image: the builtin stages run `python -m wasmelt...` and
    # zig from this interpreter and checkout, found at the same paths.
    tools = {os.path.realpath(p) for p in (sys.base_prefix, sys.prefix, REPO)}
    with buildbox_casd(tmp_path / "casd", extra_binds=tuple(f"{p}:{p}" for p in sorted(tools))) as url:
        run = remote.run("build", "//examples/app/...", f"--remote_executor={url}", "--build_event_json_file=ev.json")
    assert run.code == 0, run.err
    events = _events(remote.root / "ev.json")
    assert events and all(e["remote"] and e["status"] == "executed" for e in events)
    assert {e["mnemonic"] for e in events} >= {"Component", "Fuse", "Dce", "Synth"}
    assert _outputs(remote) == _outputs(local)


def test_a_damaged_blob_is_written_again_by_the_local_rebuild(tmp_path):
    def twins(ws: Workspace) -> None:
        ws.write("pkg/BUILD.toml", """
            [[genrule]]
            name = "one"
            outs = ["one.txt"]
            cmd = "echo same > $(OUT)"

            [[genrule]]
            name = "two"
            outs = ["two.txt"]
            cmd = "echo same > $(OUT)"
        """)

    a, b = _two_workspaces(tmp_path, twins)
    with nginx_webdav(tmp_path / "nginx") as (url, data):
        assert a.run("build", "//...", f"--remote_cache={url}").code == 0
        (data / "cas" / hashlib.sha256(b"same\n").hexdigest()).write_bytes(b"evil\n")
        run = b.run("build", "//...", f"--remote_cache={url}", "-j", "1")
    assert run.code == 0, run.err
    # `one` meets the damaged blob and runs locally; its upload puts the good
    # bytes back, so `two` (run after it) is a remote hit.
    assert run.counts == {"total": 2, "executed": 1, "cached": 1}
    assert len(_warnings(run)) == 1
    assert b.read("wasmelt-out/pkg/one/one.txt") == b.read("wasmelt-out/pkg/two/two.txt") == "same\n"
