"""An action stopped early (timed out, interrupted) leaves no process behind, even
when the launcher (wasmelt-sandbox, bubblewrap) is stopped while it still sets
its sandbox up (engine.sandbox_kill). The stop is injected in place of the wait
(no clock): it comes as soon as the launcher made the sandbox's first process,
inside its set-up, where --die-with-parent alone left the sandbox running."""

from __future__ import annotations

import os
import select
import subprocess
import uuid

import pytest

from wasmelt.engine import sandbox
from wasmelt.engine.actions import Action, Artifact
from wasmelt.engine.errors import ActionError
from wasmelt.engine.labels import Label
from wasmelt.engine.sandbox_tree import make_sandbox, remove_sandbox

pytestmark = [pytest.mark.skipif(sandbox.namespace_unavailable() is not None,
                                 reason=f"namespace sandbox unavailable: {sandbox.namespace_unavailable()}"),
              pytest.mark.usefixtures("launcher")]  # wasmelt-sandbox and bwrap in turn


def _hanging(marker: str) -> Action:
    return Action(Label("p", "hang"), "Genrule", ("/bin/sh", "-c", f"sleep 600 # {marker}"), (),
                  (Artifact("wasmelt-out/p/hang/o", False),))


def _alive(marker: str) -> list[str]:
    """Live processes whose command line holds `marker` (zombies are dead)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read()
            with open(f"/proc/{pid}/stat", "rb") as f:
                state = f.read().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if marker.encode() in cmdline and state not in (b"Z", b"X"):
            found.append(pid)
    return found


def _exited(pidfd: int) -> bool:
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    return bool(poller.poll(0))


@pytest.fixture
def namespace_policy():
    sandbox.configure("namespace")
    yield
    sandbox.configure(None)


def _run_stopped(tmp_path, monkeypatch, stop: BaseException, rounds: int = 8) -> str:
    marker = uuid.uuid4().hex

    first_processes: list[int] = []  # pidfds of the sandboxes' first processes

    def stopped(proc, timeout):
        """The stop once the launcher made the sandbox's first process (it then sets the sandbox up)."""
        children = f"/proc/{proc.pid}/task/{proc.pid}/children"
        while proc.poll() is None:
            with open(children) as f:
                pids = f.read().split()
            if pids:
                first_processes.append(os.pidfd_open(int(pids[0])))
                break
        raise stop

    monkeypatch.setattr(sandbox, "_wait", stopped)
    for i in range(rounds):
        action = _hanging(marker)
        box = make_sandbox(tmp_path / "sandboxes", action)
        try:
            with pytest.raises((type(stop), ActionError)) as caught:
                sandbox.run_in_sandbox(action, box, 60, hidden=(str(tmp_path / "ws"),))
            if isinstance(stop, subprocess.TimeoutExpired):
                assert "timed out after 60s and was killed with every process it started" in str(caught.value)
            # Gone by the time the build goes on, not some time later (a killed process
            # still runs until it leaves the kernel; a namespace's first process exits last).
            assert all(_exited(fd) for fd in first_processes), "the sandbox outlived the stop"
        finally:
            remove_sandbox(box)
            while first_processes:
                os.close(first_processes.pop())
    return marker


def test_an_interrupted_action_leaves_no_process(tmp_path, monkeypatch, namespace_policy):
    marker = _run_stopped(tmp_path, monkeypatch, KeyboardInterrupt())
    leftover = _alive(marker)
    for pid in leftover:  # not left for the next test run either
        os.kill(int(pid), 9)
    assert leftover == []


def test_a_timed_out_action_leaves_no_process(tmp_path, monkeypatch, namespace_policy):
    marker = _run_stopped(tmp_path, monkeypatch, subprocess.TimeoutExpired(["bwrap"], 60))
    leftover = _alive(marker)
    for pid in leftover:
        os.kill(int(pid), 9)
    assert leftover == []
