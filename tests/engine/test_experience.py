"""What a user sees: live progress on a terminal, the event log and profile
against their schemas, watch mode, shell completion."""

from __future__ import annotations

import json
import os
import pty
import queue
import select
import subprocess
import sys
import threading
import time

import jsonschema
import pytest

from conftest import REPO


def _two_step(ws, delay="0.3"):
    ws.write("p/in.txt", "x\n")
    ws.write("p/BUILD.toml", f"""
        [[genrule]]
        name = "slow"
        srcs = ["in.txt"]
        outs = ["slow.txt"]
        cmd = "sleep {delay}; cp $(SRCS) $(OUT)"

        [[genrule]]
        name = "after"
        srcs = [":slow"]
        outs = ["after.txt"]
        cmd = "cat $(SRCS) $(SRCS) > $(OUT)"

        [[genrule]]
        name = "side"
        outs = ["side.txt"]
        cmd = "echo side > $(OUT)"
    """)


def test_progress_on_a_pseudo_terminal(workspace):
    _two_step(workspace)
    main, child = pty.openpty()
    env = {**os.environ, "WASMELT_CACHE": str(workspace.cache), "COLUMNS": "100"}
    proc = subprocess.Popen([sys.executable, "-m", "wasmelt", "build", "//p:all", "-j", "1"], cwd=workspace.root,
                            stdin=child, stdout=child, stderr=child, env=env)
    os.close(child)
    screen = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([main], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(main, 4096)
            except OSError:
                break
            if not chunk:
                break
            screen += chunk
        elif proc.poll() is not None:
            break
    proc.wait(timeout=30)
    os.close(main)
    text = screen.decode("utf-8", "replace")
    assert proc.returncode == 0, text
    assert "/3 actions" in text and "executed" in text  # the live status line
    assert "Genrule //p:slow" in text  # a running action with its elapsed time
    assert "\x1b[" in text  # redrawn in place
    assert "3 actions: 3 executed, 0 cached" in text


def test_plain_progress_when_not_a_terminal(workspace):
    _two_step(workspace, delay="0")
    run = workspace.run("build", "//p:all")
    assert "\x1b[" not in run.err
    assert "[3/3]" in run.err


def test_event_log_and_profile_match_their_schemas(workspace, tmp_path):
    _two_step(workspace, delay="0.05")
    events_path, profile_path = tmp_path / "events.jsonl", tmp_path / "trace.json"
    run = workspace.run("build", "//p:all", "-j", "2", f"--build_event_json_file={events_path}",
                        f"--profile={profile_path}")
    assert run.code == 0, run.err
    event_schema = json.loads((REPO / "docs/build-events.schema.json").read_text())
    events = [json.loads(line) for line in events_path.read_text().splitlines()]
    for event in events:
        jsonschema.validate(event, event_schema)
    kinds = [e["event"] for e in events]
    assert kinds[0] == "build_started" and kinds[-1] == "build_finished"
    assert kinds.count("action_finished") == 3 and kinds.count("target_configured") == 3
    trace = json.loads(profile_path.read_text())
    jsonschema.validate(trace, json.loads((REPO / "docs/trace.schema.json").read_text()))
    slices = [e for e in trace["traceEvents"] if e["ph"] == "X"]
    assert len(slices) == 3
    assert trace["otherData"]["critical_path"] == ["Genrule //p:slow", "Genrule //p:after"]
    assert {e["name"] for e in slices if "critical_path" in e["cat"]} == {"Genrule //p:slow", "Genrule //p:after"}

    # A cached rebuild still logs every action, as cached.
    run = workspace.run("build", "//p:all", f"--build_event_json_file={events_path}")
    statuses = [json.loads(l).get("status") for l in events_path.read_text().splitlines()]
    assert statuses.count("cached") == 3


def test_watch_rebuilds_after_an_edit(workspace):
    _two_step(workspace, delay="0")
    env = {**os.environ, "WASMELT_CACHE": str(workspace.cache)}
    proc = subprocess.Popen([sys.executable, "-m", "wasmelt", "watch", "//p:after", "--debounce_ms", "100"],
                            cwd=workspace.root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
    try:
        lines: list[str] = []
        arrived: queue.Queue = queue.Queue()
        threading.Thread(target=lambda: [arrived.put(line) for line in proc.stdout], daemon=True).start()

        def wait_for(needle: str, count: int) -> None:
            deadline = time.monotonic() + 60
            while sum(needle in l for l in lines) < count:
                assert time.monotonic() < deadline, "".join(lines)
                try:
                    lines.append(arrived.get(timeout=0.5))
                except queue.Empty:
                    assert proc.poll() is None, "".join(lines)

        wait_for("waiting for changes", 1)
        workspace.write("p/in.txt", "edited\n")
        wait_for("waiting for changes", 2)
        text = "".join(lines)
        assert "changed p/in.txt" in text, text
        assert "2 actions: 2 executed" in text.split("changed p/in.txt")[1]
        assert workspace.read("wasmelt-out/p/after/after.txt") == "edited\nedited\n"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_bash_completion_script(workspace):
    run = workspace.run("completion", "bash")
    assert run.code == 0 and "complete -o default -F _wasmelt wasmelt" in run.out and "build" in run.out
    bash = subprocess.run(["bash", "-n"], input=run.out, text=True, capture_output=True)
    assert bash.returncode == 0, bash.stderr
