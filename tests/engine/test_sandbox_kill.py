"""An action stopped early (timed out, interrupted) leaves no process behind, even
when the launcher (wasmelt-sandbox, bubblewrap) is stopped while it still sets
its sandbox up (engine.sandbox_kill). The stop is injected in place of the wait
(no clock): it comes as soon as the launcher made the sandbox's first process,
inside its set-up, where --die-with-parent alone left the sandbox running."""

from __future__ import annotations

import os
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


@pytest.fixture
def namespace_policy():
    sandbox.configure("namespace")
    yield
    sandbox.configure(None)


def _run_stopped(tmp_path, monkeypatch, stop: BaseException, rounds: int = 8) -> str:
    marker = uuid.uuid4().hex

    def stopped(proc, timeout):
        """The stop once the launcher made the sandbox's first process (it then sets the sandbox up)."""
        children = f"/proc/{proc.pid}/task/{proc.pid}/children"
        while proc.poll() is None:
            with open(children) as f:
                if f.read().split():
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
        finally:
            remove_sandbox(box)
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
