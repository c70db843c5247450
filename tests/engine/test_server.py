"""The background server: builds through it match in-process builds, it
notices edits, and killing it (even with SIGKILL) never breaks a build."""

from __future__ import annotations

import os
import signal
import time

import pytest

from conftest import age_tree, processes_mentioning
from test_uptodate import UP_TO_DATE, _two_packages


@pytest.fixture
def served(workspace):
    """A workspace whose builds go through a server started on demand."""
    env = {"WASMELT_SERVER": "1"}
    yield workspace, env
    workspace.run("server", "stop")


def _pid(ws) -> int:
    run = ws.run("server", "status")
    assert run.code == 0, run.out + run.err
    return int(run.out.split("pid ")[1].split(",")[0])


def test_server_start_status_stop(workspace):
    assert workspace.run("server", "status").code == 3
    start = workspace.run("server", "start")
    assert start.code == 0 and "running" in start.out, start.err
    try:
        assert _pid(workspace) > 0
    finally:
        assert workspace.run("server", "stop").code == 0
    assert workspace.run("server", "status").code == 3


def test_builds_through_the_server_and_sees_edits(served):
    ws, env = served
    _two_packages(ws)
    first = ws.run("build", "//...", env=env)
    assert first.code == 0, first.err
    assert first.counts == {"total": 2, "executed": 2, "cached": 0}
    pid = _pid(ws)
    assert ws.run("build", "//...", env=env).counts["executed"] == 0
    ws.write("a/in.txt", "world\n")
    run = ws.run("build", "//...", env=env)
    assert run.counts["executed"] == 2
    assert ws.read("wasmelt-out/b/framed/framed.txt") == "[\nWORLD\n]\n"
    (ws.root / "b/BUILD.toml").write_text(ws.read("b/BUILD.toml").replace("echo ']'", "echo '>'"))
    run = ws.run("build", "//...", env=env)
    assert run.counts["executed"] == 1
    assert ws.read("wasmelt-out/b/framed/framed.txt") == "[\nWORLD\n>\n"
    assert _pid(ws) == pid  # one server served them all


def test_up_to_date_through_the_server_then_a_deleted_output(served):
    ws, env = served
    _two_packages(ws)
    assert ws.run("build", "//...", env=env).code == 0
    age_tree(ws.root)
    for _ in range(3):
        run = ws.run("build", "//...", env=env)
        assert run.code == 0 and run.counts["executed"] == 0
    assert UP_TO_DATE in run.err
    (ws.root / "wasmelt-out/b/framed/framed.txt").unlink()
    run = ws.run("build", "//...", env=env)
    assert run.code == 0 and UP_TO_DATE not in run.err
    assert ws.read("wasmelt-out/b/framed/framed.txt") == "[\nHELLO\n]\n"


def test_killed_server_falls_back_and_restarts(served):
    ws, env = served
    _two_packages(ws)
    assert ws.run("build", "//...", env=env).code == 0
    pid = _pid(ws)
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.2)
    ws.write("a/in.txt", "again\n")
    run = ws.run("build", "//...", env=env)  # finds a dead socket: starts a new server
    assert run.code == 0, run.err
    assert run.counts["executed"] == 2
    assert ws.read("wasmelt-out/b/framed/framed.txt") == "[\nAGAIN\n]\n"
    assert _pid(ws) != pid
    # With the server disabled, the same workspace builds in-process.
    run = ws.run("build", "//...", env={"WASMELT_SERVER": "0"})
    assert run.code == 0 and run.counts["executed"] == 0


def test_failing_build_through_the_server_reports_like_in_process(served):
    ws, env = served
    ws.write("f/BUILD.toml", """
        [[genrule]]
        name = "bad"
        outs = ["x.txt"]
        cmd = "echo oops >&2; exit 3"
    """)
    run = ws.run("build", "//...", env=env)
    assert run.code == 1 and "oops" in run.err
    ws.write("g/BUILD.toml", "[[genrule]]\nname = 1\n")
    run = ws.run("build", "//g:all", env=env)
    assert run.code == 2 and "g/BUILD.toml" in run.err


def test_changed_tool_through_the_server_rebuilds(served, tmp_path):
    ws, env = served
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tool = bin_dir / "mytool"
    tool.write_text("#!/bin/sh\necho one\n")
    tool.chmod(0o755)
    env = {**env, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    ws.write("t/BUILD.toml", """
        [[genrule]]
        name = "t"
        outs = ["t.txt"]
        cmd = "mytool > $(OUT)"
        host_tools = ["mytool"]
    """)
    age_tree(ws.root)
    age_tree(bin_dir)
    assert ws.run("build", "//...", env=env).counts["executed"] == 1
    assert ws.run("build", "//...", env=env).counts["executed"] == 0
    tool.write_text("#!/bin/sh\necho two\n")
    run = ws.run("build", "//...", env=env)
    assert run.counts["executed"] == 1
    assert ws.read("wasmelt-out/t/t/t.txt") == "two\n"


def _incremental(ws) -> int:
    """How many builds the server answered from its watcher's changed paths."""
    run = ws.run("server", "status")
    return int(run.out.split(" answered from watched changes")[0].rsplit(" ", 1)[1])


def _diamond(ws):
    """Three packages: two leaves in `a`, one consumer of each in `b`, and `c`
    over both (so an edit of one leaf reaches 3 of the 5 actions)."""
    ws.write("a/x.txt", "one\n")
    ws.write("a/y.txt", "two\n")
    ws.write("a/BUILD.toml", """
        [[genrule]]
        name = "x"
        srcs = ["x.txt"]
        outs = ["x.out"]
        cmd = "wc -l < $(SRCS) > $(OUT)"

        [[genrule]]
        name = "y"
        srcs = ["y.txt"]
        outs = ["y.out"]
        cmd = "tr a-z A-Z < $(SRCS) > $(OUT)"
    """)
    ws.write("b/BUILD.toml", """
        [[genrule]]
        name = "bx"
        srcs = ["//a:x"]
        outs = ["bx.out"]
        cmd = "(echo bx; cat $(SRCS)) > $(OUT)"

        [[genrule]]
        name = "by"
        srcs = ["//a:y"]
        outs = ["by.out"]
        cmd = "(echo by; cat $(SRCS)) > $(OUT)"
    """)
    ws.write("c/BUILD.toml", """
        [[genrule]]
        name = "top"
        srcs = ["//b:bx", "//b:by"]
        outs = ["top.out"]
        cmd = "cat $(SRCS) > $(OUT)"
    """)


def _watched(ws, env):
    """Build, then make the server vouch for the result with its watcher running."""
    assert ws.run("build", "//...", env=env).code == 0
    age_tree(ws.root)
    run = ws.run("build", "//...", env=env)
    assert run.code == 0 and run.counts["executed"] == 0


def test_leaf_edit_through_the_server_reruns_only_its_downstream(served):
    ws, env = served
    _diamond(ws)
    _watched(ws, env)
    before = _incremental(ws)
    ws.write("a/y.txt", "three\n")
    run = ws.run("build", "//...", env=env)
    assert run.code == 0, run.err
    assert run.counts == {"total": 5, "executed": 3, "cached": 2}
    assert ws.read("wasmelt-out/c/top/top.out") == "bx\n1\nby\nTHREE\n"
    assert _incremental(ws) == before + 1
    # Early cutoff: x.out counts lines, so the same number of lines stops there.
    ws.write("a/x.txt", "uno\n")
    run = ws.run("build", "//...", env=env)
    assert run.counts == {"total": 5, "executed": 1, "cached": 4}
    # A deleted output comes back from the cache; nothing runs.
    (ws.root / "wasmelt-out/b/by/by.out").unlink()
    run = ws.run("build", "//...", env=env)
    assert run.code == 0 and run.counts["executed"] == 0
    assert ws.read("wasmelt-out/b/by/by.out") == "by\nTHREE\n"
    # `explain` sees what the incremental builds did.
    assert "cached" in ws.run("explain", "//c:top").out
    # A removed source is reported as on the full path; putting it back builds again.
    (ws.root / "a/x.txt").unlink()
    run = ws.run("build", "//...", env=env)
    assert run.code != 0 and "x.txt" in run.err
    ws.write("a/x.txt", "uno\n")
    assert ws.run("build", "//...", env=env).code == 0
    # The same result in-process, without the server.
    run = ws.run("build", "//...", env={"WASMELT_SERVER": "0"})
    assert run.code == 0 and run.counts["executed"] == 0
    assert ws.read("wasmelt-out/c/top/top.out") == "bx\n1\nby\nTHREE\n"


def test_build_file_edit_through_the_server_then_incremental_again(served):
    ws, env = served
    _diamond(ws)
    _watched(ws, env)
    before = _incremental(ws)
    (ws.root / "b/BUILD.toml").write_text(ws.read("b/BUILD.toml").replace("echo by", "echo BY"))
    run = ws.run("build", "//...", env=env)
    assert run.counts == {"total": 5, "executed": 2, "cached": 3}
    assert ws.read("wasmelt-out/c/top/top.out") == "bx\n1\nBY\nTWO\n"
    assert _incremental(ws) == before + 1  # only a command changed: that package is analysed again
    # A command whose output bytes stay the same: early cutoff.
    (ws.root / "a/BUILD.toml").write_text(ws.read("a/BUILD.toml").replace("wc -l <", "wc -l < "))
    run = ws.run("build", "//...", env=env)
    assert run.counts == {"total": 5, "executed": 1, "cached": 4}
    # A changed dependency takes the full path (the graph's shape changed).
    (ws.root / "c/BUILD.toml").write_text(ws.read("c/BUILD.toml").replace('"//b:by"]', '"//b:by", "//a:x"]'))
    run = ws.run("build", "//...", env=env)
    assert run.counts == {"total": 5, "executed": 1, "cached": 4}
    assert ws.read("wasmelt-out/c/top/top.out") == "bx\n1\nBY\nTWO\n1\n"
    assert _incremental(ws) == before + 2
    ws.write("a/y.txt", "four\n")
    run = ws.run("build", "//...", env=env)
    assert run.counts == {"total": 5, "executed": 3, "cached": 2}
    assert ws.read("wasmelt-out/c/top/top.out") == "bx\n1\nBY\nFOUR\n1\n"
    assert _incremental(ws) == before + 3  # watched through the full build: incremental again
    # `explain` shows why the last edited command ran.
    (ws.root / "b/BUILD.toml").write_text(ws.read("b/BUILD.toml").replace("echo bx", "echo BX"))
    assert ws.run("build", "//...", env=env).counts["executed"] == 2
    assert "argument" in ws.run("explain", "//b:bx").out
    # A broken BUILD.toml is reported as on the full path.
    (ws.root / "b/BUILD.toml").write_text(ws.read("b/BUILD.toml") + "\n[[genrule]]\nname = 1\n")
    run = ws.run("build", "//...", env=env)
    assert run.code == 2 and "b/BUILD.toml" in run.err
    # A new package is seen too.
    ws.write("d/BUILD.toml", """
        [[genrule]]
        name = "d"
        srcs = ["//c:top"]
        outs = ["d.out"]
        cmd = "wc -c < $(SRCS) > $(OUT)"
    """)
    (ws.root / "b/BUILD.toml").write_text(ws.read("b/BUILD.toml").split("\n[[genrule]]\nname = 1")[0])
    run = ws.run("build", "//...", env=env)
    assert run.counts == {"total": 6, "executed": 1, "cached": 5}


def test_edit_while_the_server_was_killed_is_seen(served):
    ws, env = served
    _diamond(ws)
    _watched(ws, env)
    ws.write("a/y.txt", "five\n")
    assert ws.run("build", "//...", env=env).counts["executed"] == 3
    os.kill(_pid(ws), signal.SIGKILL)
    time.sleep(0.2)
    ws.write("a/x.txt", "a\nb\n")  # nobody watches this edit
    run = ws.run("build", "//...", env=env)
    assert run.code == 0, run.err
    assert run.counts == {"total": 5, "executed": 3, "cached": 2}
    assert ws.read("wasmelt-out/c/top/top.out") == "bx\n2\nby\nFIVE\n"
    # And the new server's watcher takes over from its first verified build.
    age_tree(ws.root)
    assert ws.run("build", "//...", env=env).counts["executed"] == 0
    before = _incremental(ws)
    ws.write("a/y.txt", "six\n")
    run = ws.run("build", "//...", env=env)
    assert run.counts["executed"] == 3 and _incremental(ws) == before + 1
    assert ws.read("wasmelt-out/c/top/top.out") == "bx\n2\nby\nSIX\n"


def test_a_server_whose_first_answer_was_the_stat_pass_answers_the_next_from_its_watcher(served):
    """Started on an up-to-date workspace, the server verifies it once by the
    stat pass; from then on its watcher's (absent) changes answer, and an
    edit is still seen."""
    ws, env = served
    _diamond(ws)
    in_process = {"WASMELT_SERVER": "0"}
    assert ws.run("build", "//...", env=in_process).code == 0
    age_tree(ws.root)
    assert ws.run("build", "//...", env=in_process).code == 0  # records the stats
    first = ws.run("build", "//...", env=env)  # starts the server: answered by the stat pass
    assert first.code == 0 and UP_TO_DATE in first.err, first.err
    assert _incremental(ws) == 0
    again = ws.run("build", "//...", env=env)
    assert again.code == 0 and UP_TO_DATE in again.err and _incremental(ws) == 1  # the watcher's seeds: none
    ws.write("a/y.txt", "seven\n")
    run = ws.run("build", "//...", env=env)
    assert run.counts == {"total": 5, "executed": 3, "cached": 2}
    assert ws.read("wasmelt-out/c/top/top.out") == "bx\n1\nby\nSEVEN\n"
    (ws.root / "b/BUILD.toml").write_text(ws.read("b/BUILD.toml").replace("echo by", "echo BY"))
    run = ws.run("build", "//...", env=env)
    assert run.counts["executed"] == 2 and ws.read("wasmelt-out/c/top/top.out") == "bx\n1\nBY\nSEVEN\n"


def test_client_of_another_protocol_is_refused_and_the_server_keeps_serving(served):
    from wasmelt.engine import client

    ws, env = served
    _two_packages(ws)
    assert ws.run("build", "//...", env=env).code == 0
    pid = _pid(ws)
    records = client.records_path(str(ws.cache), str(ws.root.resolve()))
    for request in (b'{"argv": ["build", "//..."]}\n', b"wsm\x00" + b"\0\0\0\2{}", client.PROTOCOL + b"\0\0\0\3abc"):
        sock = client.connect(records, timeout=10)
        assert sock is not None
        try:
            sock.sendall(request)
            assert client.read_frame(sock) == (b"r", b"protocol")
        finally:
            sock.close()
    run = ws.run("build", "//...", env=env)
    assert run.code == 0 and run.counts["executed"] == 0
    assert _pid(ws) == pid


def test_forwarded_command_imports_only_the_client(served):
    """A command a running server answers costs the interpreter's start plus
    engine.client and the root finder: none of the engine, and no json, tomllib or socket.py."""
    import subprocess
    import sys

    ws, env = served
    _two_packages(ws)
    assert ws.run("build", "//...", env=env).code == 0
    probe = ("import sys; from wasmelt.cli import main; code = main(['build', '//...']); "
             "print(code, sorted(m for m in sys.modules if m.startswith('wasmelt') or m in ('json', 'tomllib', 'socket')))")
    proc = subprocess.run([sys.executable, "-c", probe], cwd=ws.root, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "WASMELT_CACHE": str(ws.cache), **env})
    assert proc.stdout.strip() == ("0 ['wasmelt', 'wasmelt.cli', 'wasmelt.engine', 'wasmelt.engine.client', "
                                   "'wasmelt.engine.workspace_root', 'wasmelt.rc']"), proc.stderr  # builtin modules only
    assert "Build completed" in proc.stderr


def _slow_genrule(ws, started, blocker):
    """One genrule over slow/in.txt that touches `started`, then waits while
    `blocker` exists (both outside the workspace)."""
    ws.write("slow/in.txt", "1\n")
    ws.write("slow/BUILD.toml", f"""
        [[genrule]]
        name = "slow"
        srcs = ["in.txt"]
        outs = ["out.txt"]
        cmd = "touch {started}; while [ -e {blocker} ]; do sleep 0.05; done; cp $(SRCS) $(OUT)"
    """)


def _start_build(ws, env, started=None, stderr=None):
    """`wasmelt build //...` in the background; with `started`, once its action runs."""
    import subprocess
    import sys

    if started is not None:
        started.unlink(missing_ok=True)
    # The action signals through host files: only the directory sandbox shows them.
    proc = subprocess.Popen([sys.executable, "-m", "wasmelt", "build", "//...", "--sandbox=directory"], cwd=ws.root,
                            env={**os.environ, "WASMELT_CACHE": str(ws.cache), **env},
                            stdout=subprocess.PIPE, stderr=stderr or subprocess.PIPE, text=True)
    for _ in range(600 if started is not None else 0):
        if started.exists() or proc.poll() is not None:
            break
        time.sleep(0.1)
    assert started is None or started.exists(), proc.communicate()
    return proc


def _interrupt_client(ws, env, started):
    """Start a build through the server, Ctrl-C it once its action runs; the client's result."""
    proc = _start_build(ws, env, started)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err


def test_ctrl_c_in_the_client_stops_the_command_in_the_server(served, tmp_path):
    ws, env = served
    started, blocker = tmp_path / "started", tmp_path / "blocker"
    _slow_genrule(ws, started, blocker)
    _watched(ws, env)
    pid = _pid(ws)
    # An edit goes down the server's incremental path; the interrupted build
    # must not leave it believing the edit was built.
    ws.write("slow/in.txt", "2\n")
    blocker.touch()
    code, err = _interrupt_client(ws, env, started)
    assert code == 130 and "interrupted" in err and "Traceback" not in err, err
    # The server stopped the action (SIGINT to its process group) and serves on.
    for _ in range(100):
        if not processes_mentioning(str(blocker)):
            break
        time.sleep(0.1)
    assert not processes_mentioning(str(blocker))
    assert _pid(ws) == pid
    blocker.unlink()
    run = ws.run("build", "//...", env=env, timeout=120)
    assert run.code == 0 and run.counts["executed"] == 1, run.err
    assert ws.read("wasmelt-out/slow/slow/out.txt") == "2\n"  # not "up to date" with 1
    # The same on the full path (a server's first command).
    ws.run("server", "stop")
    ws.write("slow/in.txt", "3\n")
    blocker.touch()
    assert ws.run("server", "start").code == 0
    code, err = _interrupt_client(ws, env, started)
    assert code == 130 and "interrupted" in err, err
    blocker.unlink()
    run = ws.run("build", "//slow", env=env, timeout=120)
    assert run.code == 0 and run.counts["executed"] == 1, run.err
    assert ws.read("wasmelt-out/slow/slow/out.txt") == "3\n"


def test_a_client_arriving_while_the_server_is_busy_is_told_it_waits(served, tmp_path):
    ws, env = served
    started, blocker = tmp_path / "started", tmp_path / "blocker"
    _slow_genrule(ws, started, blocker)
    assert ws.run("server", "start").code == 0
    blocker.touch()
    first = _start_build(ws, env, started)
    second_err = tmp_path / "second.err"
    with open(second_err, "w") as err:
        second = _start_build(ws, env, stderr=err)
        for _ in range(600):
            if "waiting for it to finish" in second_err.read_text() or second.poll() is not None:
                break
            time.sleep(0.1)
        assert "wasmelt: the server is running another command; waiting for it to finish" in second_err.read_text()
        status = ws.run("server", "status", timeout=60)  # answered while the command runs
        assert status.code == 0 and "running a command" in status.out, status.out + status.err
        blocker.unlink()
        assert first.wait(timeout=120) == 0 and second.wait(timeout=120) == 0
    assert "0 executed" in second_err.read_text()
    assert ws.read("wasmelt-out/slow/slow/out.txt") == "1\n"


def test_a_client_whose_reader_leaves_exits_as_by_sigpipe_and_the_server_serves_on(served):
    """`wasmelt build 2>&1 | head -1`: the client's output pipe closes, which
    is not the server going away: no in-process rerun, exit 141."""
    import subprocess
    import sys

    ws, env = served
    ws.write("a/in.txt", "x\n")
    ws.write("a/BUILD.toml", """
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
    assert ws.run("server", "start").code == 0
    pid = _pid(ws)
    # The action signals through host files: only the directory sandbox shows them.
    proc = subprocess.Popen([sys.executable, "-m", "wasmelt", "build", "//...", "--sandbox=directory"], cwd=ws.root,
                            env={**os.environ, "WASMELT_CACHE": str(ws.cache), **env},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr.readline().startswith(b"[1/2]")
    proc.stderr.close()  # the reader leaves while //a:two still runs
    assert proc.wait(timeout=120) == 141
    assert _pid(ws) == pid
    run = ws.run("build", "//...", env=env)
    assert run.code == 0 and "did not finish" not in run.err


def test_progress_through_the_server_fits_the_clients_terminal(served):
    """The live progress block is drawn by the server for the client's
    terminal: its lines fit the client's width, not a default one."""
    import fcntl
    import pty
    import re
    import select
    import struct
    import subprocess
    import sys
    import termios

    ws, env = served
    name = "a_target_whose_name_alone_is_wider_than_the_terminal_it_is_shown_in"
    ws.write("p/BUILD.toml", f"""
        [[genrule]]
        name = "{name}"
        outs = ["out.txt"]
        cmd = "sleep 1; echo done > $(OUT)"
    """)
    assert ws.run("server", "start").code == 0
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 50, 0, 0))
    # The action signals through host files: only the directory sandbox shows them.
    proc = subprocess.Popen([sys.executable, "-m", "wasmelt", "build", "//...", "--sandbox=directory"], cwd=ws.root,
                            env={k: v for k, v in {**os.environ, "WASMELT_CACHE": str(ws.cache), **env}.items()
                                 if k not in ("COLUMNS", "LINES")},
                            stdin=subprocess.DEVNULL, stdout=slave, stderr=slave)
    os.close(slave)
    output = b""
    while True:
        ready, _, _ = select.select([master], [], [], 120)
        try:
            chunk = os.read(master, 1 << 16) if ready else b""
        except OSError:  # the child closed the terminal
            chunk = b""
        if not chunk:
            break
        output += chunk
    os.close(master)
    assert proc.wait(timeout=120) == 0
    text = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", output.decode(errors="replace"))
    live = [line for line in re.split(r"[\r\n]+", text) if line.startswith(("[#", "[.", "    Genrule"))]
    assert any(line.startswith("    Genrule") for line in live), text  # the block showed the running action
    assert all(len(line) < 50 for line in live), text


def test_a_socket_nobody_listens_on_is_removed_but_not_one_put_in_its_place(tmp_path, monkeypatch):
    import socket

    from wasmelt.engine import client

    path = tmp_path / client.SOCKET_NAME
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(path))  # bound, never listening: what a killed server leaves behind
    assert client.connect(str(tmp_path)) is None
    assert not path.exists()
    dead.close()

    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(path))
    fresh = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    shorten = client.short_socket_path

    def new_server_starts_meanwhile(p: str) -> str:
        # After the client looked at the file, before its connect to the old socket is refused.
        os.replace(path, tmp_path / "old.sock")
        fresh.bind(str(tmp_path / "new.sock"))
        fresh.listen(1)
        os.replace(tmp_path / "new.sock", path)
        return str(tmp_path / "old.sock")

    try:
        monkeypatch.setattr(client, "short_socket_path", new_server_starts_meanwhile)
        assert client.connect(str(tmp_path)) is None  # refused by the old one
        monkeypatch.setattr(client, "short_socket_path", shorten)
        assert path.exists()  # the new server's socket stays
        reached = client.connect(str(tmp_path))
        assert reached is not None
        reached.close()
    finally:
        dead.close()
        fresh.close()


def test_ctrl_c_reaches_a_server_sharing_its_process_group_without_signalling_the_group(served, tmp_path):
    """`wasmelt server serve` run by another program, in that program's
    process group (here pytest's): the interrupt goes to the server alone;
    its running action finishes, nothing after it starts."""
    import subprocess
    import sys

    ws, env = served
    started, blocker = tmp_path / "started", tmp_path / "blocker"
    _slow_genrule(ws, started, blocker)
    ws.write("after/BUILD.toml", """
        [[genrule]]
        name = "after"
        srcs = ["//slow"]
        outs = ["after.txt"]
        cmd = "cp $(SRCS) $(OUT)"
    """)
    server = subprocess.Popen([sys.executable, "-m", "wasmelt", "server", "serve"], cwd=ws.root,
                              env={**os.environ, "WASMELT_CACHE": str(ws.cache), "WASMELT_SERVER": "0"},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            if ws.run("server", "status").code == 0:
                break
            time.sleep(0.1)
        assert os.getpgid(server.pid) == os.getpgid(0)
        blocker.touch()
        code, err = _interrupt_client(ws, env, started)  # this test process survives: no SIGINT to the group
        assert code == 130 and "interrupted" in err, err
        blocker.unlink()
        for _ in range(300):
            if "running a command" not in ws.run("server", "status").out:
                break
            time.sleep(0.1)
        assert not (ws.root / "wasmelt-out/after/after/after.txt").exists()
        assert server.poll() is None
        run = ws.run("build", "//...", env=env)
        assert run.code == 0 and run.counts["executed"] == 1, run.err  # only //after:after was left
        assert ws.read("wasmelt-out/after/after/after.txt") == "1\n"
    finally:
        ws.run("server", "stop")
        server.wait(timeout=60)


def test_an_edit_is_seen_by_a_build_the_up_to_date_answer_does_not_apply_to(served):
    """Every build the server runs takes the watcher's changes first, not only
    the plain ones it could answer as a whole."""
    ws, env = served
    _diamond(ws)
    _watched(ws, env)
    ws.write("a/y.txt", "seven\n")
    run = ws.run("build", "//...", "-v", env=env)
    assert run.code == 0 and run.counts == {"total": 5, "executed": 3, "cached": 2}, run.err
    assert ws.read("wasmelt-out/c/top/top.out") == "bx\n1\nby\nSEVEN\n"
    ws.write("a/x.txt", "1\n2\n3\n")
    run = ws.run("build", "//...", env=env)
    assert run.counts == {"total": 5, "executed": 3, "cached": 2}
    assert ws.read("wasmelt-out/c/top/top.out") == "bx\n3\nby\nSEVEN\n"


def test_a_bad_flag_through_the_server_is_the_parsers_error(served):
    ws, env = served
    _two_packages(ws)
    assert ws.run("build", "//...", env=env).code == 0
    pid = _pid(ws)
    run = ws.run("build", "//...", "-j", "banana", env=env)
    assert run.code == 2 and "argument -j/--jobs: invalid number of jobs: 'banana'" in run.err
    assert UP_TO_DATE not in run.err and _pid(ws) == pid
