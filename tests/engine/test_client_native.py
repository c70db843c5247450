"""The native client (engine/client_native.c, installed by scripts/setup as the venv's `wasmelt`)
against real servers: the same bytes, exit codes and fallbacks as pip's Python script beside it."""

from __future__ import annotations

import marshal
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import REPO, age_tree
from test_uptodate import UP_TO_DATE, _two_packages

BIN = Path(sys.executable).parent
NATIVE, PYTHON_SCRIPT = BIN / "wasmelt", BIN / "wasmelt-python"
SOURCE = REPO / "engine" / "client_native.c"
UNFINISHED = "wasmelt: the server did not finish the command; running it in this process\n"


def _built() -> bool:
    try:
        with open(NATIVE, "rb") as f:
            return f.read(4) == b"\x7fELF" and PYTHON_SCRIPT.exists()
    except OSError:
        return False


needs_native = pytest.mark.skipif(not _built(), reason="the native client was not built (scripts/setup installs it)")


def _run(exe: Path, ws, *args: str, env: dict | None = None, cwd: Path | None = None) -> tuple[int, str, str]:
    full = {**os.environ, "WASMELT_CACHE": str(ws.cache), **(env or {})}
    full = {k: v for k, v in full.items() if v is not None}
    proc = subprocess.run([str(exe), *args], cwd=cwd or ws.root, env=full, capture_output=True, text=True, timeout=300)
    return proc.returncode, proc.stdout, proc.stderr


def _timeless(text: str) -> str:
    """Durations differ from run to run; nothing else may."""
    return re.sub(r"\d+\.\d+s\b", "N.NNs", text)


def _same(ws, *args: str, env: dict | None = None) -> tuple[int, str, str]:
    """Run through pip's Python script, then the native client: the same result (durations aside).
    A first run settles what the command changes (an action run, a build recorded)."""
    _run(PYTHON_SCRIPT, ws, *args, env=env)
    python = _run(PYTHON_SCRIPT, ws, *args, env=env)
    native = _run(NATIVE, ws, *args, env=env)
    assert (native[0], _timeless(native[1]), _timeless(native[2])) == \
        (python[0], _timeless(python[1]), _timeless(python[2])), (native, python)
    return native


def _commands(ws) -> int:
    """How many commands the workspace's server ran."""
    out = _run(PYTHON_SCRIPT, ws, "server", "status")[1]
    return int(out.split(" commands")[0].rsplit(" ", 1)[1])


@pytest.fixture
def running(workspace):
    """A workspace of two packages, built and settled, with its server running."""
    _two_packages(workspace)
    assert workspace.run("server", "start").code == 0
    assert workspace.run("build", "//...", env={"WASMELT_SERVER": "1"}).code == 0
    age_tree(workspace.root)
    assert workspace.run("build", "//...", env={"WASMELT_SERVER": "1"}).code == 0  # the server vouches for it
    yield workspace
    workspace.run("server", "stop")


@needs_native
def test_a_null_build_through_the_server_is_the_python_clients(running):
    before = _commands(running)
    code, _, err = _same(running, "build", "//...")
    assert code == 0 and UP_TO_DATE in err, err
    assert _commands(running) == before + 3  # all went to the server


@needs_native
def test_a_failing_build_a_bad_flag_and_jobs_0_through_the_server(running):
    running.write("f/BUILD.toml", """
        [[genrule]]
        name = "bad"
        outs = ["x.txt"]
        cmd = "echo oops >&2; exit 3"
    """)
    code, _, err = _same(running, "build", "//f:bad")
    assert code == 1 and "oops" in err
    code, _, err = _same(running, "build", "//...", "-j", "banana")
    assert code == 2 and "argument -j/--jobs: invalid number of jobs: 'banana'" in err
    before = _commands(running)
    _same(running, "build", "//a:upper", "-j", "0")
    assert _commands(running) == before + 3


@needs_native
def test_rc_files_apply_in_the_server_and_a_bad_one_is_its_error(running, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / ".wasmeltrc").write_text("build:loud --announce_rc\n")
    running.write(".wasmeltrc", "build --quiet\n")
    env = {"HOME": str(home)}
    before = _commands(running)
    code, _, err = _same(running, "build", "//...", "--config=loud", env=env)
    assert code == 0 and f"INFO: {running.root}/.wasmeltrc:1: build --quiet" in err, err
    assert f"INFO: {home}/.wasmeltrc:1: build:loud --announce_rc" in err
    assert _commands(running) == before + 3
    running.write(".wasmeltrc", "build --quiet\nbiuld --jobs=2\n")
    code, out, err = _same(running, "build", "//...", env=env)
    assert (code, out) == (2, "")
    assert err == (f"ERROR: {running.root}/.wasmeltrc:2: `biuld` is not a command (did you mean `build`?); a line is "
                   "`COMMAND[:CONFIG] --flag...` (e.g. `build --jobs=4`, `build:ci --keep_going`)\n")
    (running.root / ".wasmeltrc").unlink()  # `server status` reads it too
    assert _commands(running) == before + 4  # the Python clients' stopped at home; the native one's server said it


@needs_native
def test_what_is_not_forwarded_runs_in_python(running):
    before = _commands(running)
    code, out, _ = _same(running, "query", "//...")
    assert code == 0 and "//a:upper" in out
    code, _, err = _same(running, "build", "//...", env={"WASMELT_SERVER": "0"})
    assert code == 0 and UP_TO_DATE in err
    code, _, err = _same(running, "build", "//...", env={"WASMELT_INSIDE_ACTION": "1"})
    assert code != 0 and err.startswith("ERROR: ")
    assert _commands(running) == before


@needs_native
def test_without_a_server_it_builds_in_process(workspace):
    _two_packages(workspace)
    code, _, err = _same(workspace, "build", "//...")
    assert code == 0 and "executed" in err
    age_tree(workspace.root)
    _same(workspace, "build", "//...")
    code, _, err = _same(workspace, "build", "//...")
    assert code == 0 and UP_TO_DATE in err
    assert not list(workspace.cache.glob("records/*/server.sock"))


@needs_native
def test_a_long_cache_path_reaches_the_server_through_proc(tmp_path):
    from conftest import Workspace

    ws = Workspace(tmp_path / "ws", tmp_path / ("c" * 60) / ("d" * 40))
    ws.write("BUILD.toml", '[workspace]\nname = "test"\n')
    _two_packages(ws)
    assert len(str(_socket_path(ws))) > 107
    assert ws.run("server", "start").code == 0
    try:
        assert ws.run("build", "//...").code == 0
        age_tree(ws.root)  # past the racy window: every later build is the same null answer
        assert ws.run("build", "//...").code == 0
        before = _commands(ws)
        code, _, _ = _same(ws, "build", "//...")
        assert code == 0 and _commands(ws) == before + 3
    finally:
        ws.run("server", "stop")


def _socket_path(ws) -> Path:
    from wasmelt.engine import client

    return Path(client.records_path(str(ws.cache), str(ws.root.resolve()))) / client.SOCKET_NAME


def _settled_in_process(ws) -> None:
    in_process = {"WASMELT_SERVER": "0"}
    assert ws.run("build", "//...", env=in_process).code == 0
    age_tree(ws.root)
    assert ws.run("build", "//...", env=in_process).code == 0  # records the stats


@needs_native
def test_a_killed_servers_socket_is_removed_and_the_build_runs_in_process(running):
    _settled_in_process(running)
    pid = int(_run(PYTHON_SCRIPT, running, "server", "status")[1].split("pid ")[1].split(",")[0])
    os.kill(pid, signal.SIGKILL)
    for _ in range(100):
        if not os.path.exists(f"/proc/{pid}"):
            break
        time.sleep(0.05)
    path = _socket_path(running)
    assert path.exists()  # left behind
    results = []
    for exe in (NATIVE, PYTHON_SCRIPT):
        if not path.exists():  # the same stale socket for the second one: bound, nobody listening
            from wasmelt.engine import client

            dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            dead.bind(client.short_socket_path(str(path)))
            dead.close()
        results.append(_run(exe, running, "build", "//..."))
        assert not path.exists()
    (code, out, err), python = results
    assert (code, _timeless(out), _timeless(err)) == (python[0], _timeless(python[1]), _timeless(python[2]))
    assert code == 0 and "did not finish" not in err


class _FakeServer:
    """A listener at the workspace's socket that records each request and answers with `frames`."""

    def __init__(self, path: Path, frames: bytes):
        self.requests: list[bytes] = []
        path.parent.mkdir(parents=True, exist_ok=True)
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        from wasmelt.engine import client

        self.listener.bind(client.short_socket_path(str(path)))
        self.listener.listen(4)
        self.frames = frames
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        from wasmelt.engine import client

        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with conn:
                head = client.read_exact(conn, 8)
                body = client.read_exact(conn, int.from_bytes(head[4:], "big"))
                self.requests.append(head + body)
                conn.sendall(self.frames)

    def close(self) -> None:
        self.listener.close()


@needs_native
@pytest.mark.parametrize("frames", [b"r\0\0\0\5stale", b"e\0\0\0\4half"], ids=["refused", "died"])
def test_a_server_that_refuses_or_dies_is_not_asked_again(workspace, frames):
    _two_packages(workspace)
    _settled_in_process(workspace)
    fake = _FakeServer(_socket_path(workspace), frames)
    try:
        python = _run(PYTHON_SCRIPT, workspace, "build", "//...")
        native = _run(NATIVE, workspace, "build", "//...")
    finally:
        fake.close()
    assert (native[0], native[1], _timeless(native[2])) == (python[0], python[1], _timeless(python[2]))
    assert native[0] == 0 and native[2].startswith(("half" if frames[:1] == b"e" else "") + UNFINISHED)
    assert "Build completed" in native[2]
    assert len(fake.requests) == 2  # one each: the in-process run asked no server


def _announcing(ws, tmp_path) -> tuple[dict, str]:
    """A workspace whose .wasmeltrc announces itself: (the environment, with a HOME of no rc file; the line)."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    ws.write(".wasmeltrc", "build --announce_rc\n")
    return {"HOME": str(home)}, f"INFO: {ws.root}/.wasmeltrc:1: build --announce_rc\n"


@needs_native
def test_announce_rc_is_said_once_without_a_server_and_through_one(running, tmp_path):
    env, line = _announcing(running, tmp_path)
    before = _commands(running)
    code, _, err = _same(running, "build", "//...", env=env)  # the server applies the native client's rc files
    assert code == 0 and err.count(line) == 1, err
    assert _commands(running) == before + 3
    running.run("server", "stop")
    for exe in (NATIVE, PYTHON_SCRIPT):  # no server: Python's (a null build or not, as the stats decide)
        code, _, err = _run(exe, running, "build", "//...", env={**env, "WASMELT_SERVER": None})
        assert code == 0 and err.count(line) == 1, err
    assert not list(running.cache.glob("records/*/server.sock"))


@needs_native
@pytest.mark.parametrize("frames, printed", [
    (b"r\0\0\0\5stale", ""),  # refused before reading the rc files
    (b"e\0\0\0\4half", "half"),  # died before: an older server, or one killed in between
    (b"e\0\0\0\0", ""),  # applied them (nothing to announce in its view), then died
], ids=["refused", "died-before-rc", "died-after-rc"])
def test_announce_rc_is_said_once_when_a_server_does_not_finish(workspace, tmp_path, frames, printed):
    """Python runs the command again; it announces the rc lines unless the server said it had."""
    _two_packages(workspace)
    env, line = _announcing(workspace, tmp_path)
    if frames == b"e\0\0\0\0":
        frames = b"e" + len(line).to_bytes(4, "big") + line.encode() + frames  # as engine.server: the lines, then the mark
        printed = line
    fake = _FakeServer(_socket_path(workspace), frames)
    try:
        code, _, err = _run(NATIVE, workspace, "build", "//...", env=env)
    finally:
        fake.close()
    assert code == 0 and err.startswith(printed + UNFINISHED), err
    assert err.count(line) == 1, err
    assert len(fake.requests) == 1


@needs_native
def test_announce_rc_is_said_once_when_the_server_is_killed_during_the_build(running, tmp_path):
    from test_server import _slow_genrule

    env, line = _announcing(running, tmp_path)
    started, blocker = tmp_path / "started", tmp_path / "blocker"
    _slow_genrule(running, started, blocker)
    blocker.touch()
    pid = int(_run(PYTHON_SCRIPT, running, "server", "status")[1].split("pid ")[1].split(",")[0])
    proc = subprocess.Popen([str(NATIVE), "build", "//slow", "--sandbox=directory"], cwd=running.root,
                            env={**os.environ, "WASMELT_CACHE": str(running.cache), **env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for _ in range(600):
        if started.exists() or proc.poll() is not None:
            break
        time.sleep(0.1)
    assert started.exists(), proc.communicate()
    os.kill(pid, signal.SIGKILL)  # the server announced the rc line and runs the action
    blocker.unlink()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0 and UNFINISHED in err, err
    assert err.count(line) == 1 and err.index(line) < err.index(UNFINISHED), err  # the server's, not again


@needs_native
def test_the_request_is_marshal_of_the_python_clients_dict(workspace):
    from wasmelt.engine import client

    fake = _FakeServer(_socket_path(workspace), b"x\0\0\0\0010")
    env = {"PATH": os.environ["PATH"], "LANG": "C.UTF-8", "HOME": str(workspace.root), "EMPTY": "",
           "WASMELT_CACHE": str(workspace.cache), "NAME": "ünïcødé €𝄞", "EQ": "a=b=c"}
    argv = ["build", "//...", "-k", "ñ"]
    try:
        for exe in (NATIVE, PYTHON_SCRIPT):
            proc = subprocess.run([str(exe), *argv], cwd=workspace.root, env=env, capture_output=True, timeout=120)
            assert proc.returncode == 0 and proc.stderr == b"", proc.stderr
    finally:
        fake.close()
    expected = []
    for expanded in (False, True):
        data = marshal.dumps({"argv": argv, "cwd": str(workspace.root), "env": env, "tty": False,
                              "expanded": expanded}, 2)
        expected.append(client.PROTOCOL + len(data).to_bytes(4, "big") + data)
    assert fake.requests == expected


@needs_native
def test_ctrl_c_in_the_native_client_stops_the_command(running, tmp_path):
    from test_server import _slow_genrule

    started, blocker = tmp_path / "started", tmp_path / "blocker"
    _slow_genrule(running, started, blocker)
    blocker.touch()
    proc = subprocess.Popen([str(NATIVE), "build", "//slow", "--sandbox=directory"], cwd=running.root,
                            env={**os.environ, "WASMELT_CACHE": str(running.cache)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for _ in range(600):
        if started.exists() or proc.poll() is not None:
            break
        time.sleep(0.1)
    assert started.exists(), proc.communicate()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    blocker.unlink()
    assert proc.returncode == 130 and err.endswith("interrupted\n"), err


@needs_native
def test_a_reader_that_leaves_is_exit_141(running):
    running.write("p/in.txt", "x\n")
    running.write("p/BUILD.toml", """
        [[genrule]]
        name = "one"
        srcs = ["in.txt"]
        outs = ["1.txt"]
        cmd = "cp $(SRCS) $(OUT)"

        [[genrule]]
        name = "two"
        srcs = [":one"]
        outs = ["2.txt"]
        cmd = "sleep 1; cp $(SRCS) $(OUT)"
    """)
    proc = subprocess.Popen([str(NATIVE), "build", "//p:all"], cwd=running.root,
                            env={**os.environ, "WASMELT_CACHE": str(running.cache)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    first = proc.stderr.readline()
    assert first.startswith(b"[1/2]"), first  # the reader leaves while //p:two still runs
    proc.stderr.close()
    assert proc.wait(timeout=120) == 141
    code, out, err = _run(NATIVE, running, "build", "//...")
    assert code == 0 and "did not finish" not in err, (code, out, err)


@needs_native
def test_without_its_python_entry_point_it_says_what_to_do(tmp_path):
    alone = tmp_path / "wasmelt"
    shutil.copy2(NATIVE, alone)
    proc = subprocess.run([str(alone), "version"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.startswith(f"ERROR: wasmelt's Python entry point {tmp_path}/wasmelt-python cannot be run "
                                  "(No such file or directory): run the set-up again (scripts/setup)")


@pytest.fixture(scope="module")
def harness(tmp_path_factory) -> Path:
    """The client's source built with its test entry point (hash, request)."""
    out = tmp_path_factory.mktemp("native") / "harness"
    proc = subprocess.run([sys.executable, "-m", "ziglang", "cc", "-O2", "-DCLIENT_NATIVE_TEST", "-o", str(out),
                           str(SOURCE)], capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        pytest.skip(f"the native client's source does not compile here: {proc.stderr[-300:]}")
    return out


def test_xxh3_128_is_xxhashs_on_every_length(harness):
    import random

    import xxhash

    rng = random.Random(22)
    lengths = [*range(0, 1025), 1088, 2047, 2048, 2049, 3071, 5000]  # every path: 0, 1-3, ..., 129-240, blocks
    data = [rng.randbytes(n) for n in lengths]
    proc = subprocess.run([str(harness), "hash"], input="".join(d.hex() + "\n" for d in data),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    assert proc.stdout.split() == [xxhash.xxh3_128_hexdigest(d) for d in data]


def test_the_request_of_unusual_environments(harness, tmp_path):
    """Duplicate names (where the first is, with the last value, as in os.environ), the C locale (Python's start adds
    LC_CTYPE=C.UTF-8), text that is not UTF-8 (left to Python: no request)."""
    def request(env, *argv):
        proc = subprocess.run([str(harness), "request", *argv], cwd=tmp_path, env=env, capture_output=True,
                              timeout=60)
        return proc.stdout if proc.returncode == 0 else None

    def expected(env, *argv):
        return marshal.dumps({"argv": list(argv), "cwd": str(tmp_path), "env": env, "tty": False,
                              "expanded": False}, 2)

    assert request({"LANG": "C", "A": "1"}, "build") == expected({"LANG": "C", "A": "1", "LC_CTYPE": "C.UTF-8"}, "build")
    env = {"LC_CTYPE": "POSIX", "B": "2"}
    assert request(env, "test") == expected({"LC_CTYPE": "C.UTF-8", "B": "2"}, "test")
    env = {"LC_ALL": "C", "B": "2"}
    assert request(env, "test") == expected(env, "test")
    assert request({"LANG": "C.UTF-8", "X": "\udcff"}, "build") is None  # undecodable: Python's surrogateescape
    assert request({"LANG": "en_US.ISO-8859-1", "X": "é"}, "build") is None  # another locale's encoding
    twice = ["env", "-i", "D=first", "LANG=C.UTF-8", "D=second"]
    proc = subprocess.run([*twice, str(harness), "request", "build"], cwd=tmp_path, capture_output=True, timeout=60)
    python = subprocess.run([*twice, sys.executable, "-c", "import os; print(list(os.environ.items()))"],
                            capture_output=True, text=True, timeout=60)
    assert python.stdout.strip() == "[('D', 'second'), ('LANG', 'C.UTF-8')]"
    assert proc.stdout == expected({"D": "second", "LANG": "C.UTF-8"}, "build")


def test_set_up_puts_the_native_client_in_front_of_pips_script_and_repairs_it(tmp_path):
    """scripts/setup on a current venv: pip's script moves to wasmelt-python, the client is
    compiled and installed; again, nothing changes; after pip rewrote `wasmelt`, it is
    repaired; a source that does not compile leaves pip's script, said once and not
    compiled again."""
    checkout = tmp_path / "checkout"
    (checkout / "scripts").mkdir(parents=True)
    (checkout / "engine").mkdir()
    for rel in ("scripts/setup", "pyproject.toml", "engine/client_native.c"):
        shutil.copy2(REPO / rel, checkout / rel)
    venv = checkout / ".venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin/python").write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')
    os.utime(checkout / "pyproject.toml", (1, 1))
    (venv / ".setup-demo").touch()

    def pip_writes_its_script(marker: str) -> None:
        (venv / "bin/wasmelt").write_text(f'#!/bin/sh\necho "{marker} $*"\n')

    def setup() -> str:
        proc = subprocess.run(["bash", str(checkout / "scripts/setup"), "demo"], cwd=tmp_path,
                              env={**os.environ, "PYTHON": sys.executable}, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr
        return proc.stderr

    (venv / "bin/python").chmod(0o755)
    pip_writes_its_script("first")
    (venv / "bin/wasmelt").chmod(0o755)
    assert setup() == ""
    native = venv / "bin/wasmelt"
    assert native.read_bytes()[:4] == b"\x7fELF" and "first" in (venv / "bin/wasmelt-python").read_text()
    run = subprocess.run([str(native), "version"], capture_output=True, text=True, timeout=60)
    assert run.stdout == "first version\n"  # everything else is pip's script
    inode = native.stat().st_ino
    assert setup() == "" and native.stat().st_ino == inode  # nothing to do
    pip_writes_its_script("second")  # `pip install -e .` again
    assert setup() == "" and native.read_bytes()[:4] == b"\x7fELF"
    assert subprocess.run([str(native), "query"], capture_output=True, text=True).stdout == "second query\n"
    with open(checkout / "engine/client_native.c", "a") as f:
        f.write("this is not C\n")
    err = setup()
    assert err == ("set-up: the native client did not compile (see .venv/client-build.log); `wasmelt` is pip's "
                   "Python script until engine/client_native.c changes\n")
    assert native.read_text() == '#!/bin/sh\necho "second $*"\n' and not (venv / "bin/wasmelt-python").exists()
    log = venv / "client-build.log"
    log.unlink()
    assert setup() == "" and not log.exists()  # the same source: not compiled again
    assert native.read_text() == '#!/bin/sh\necho "second $*"\n'
