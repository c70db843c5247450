"""Stopping a sandboxed action early (a timeout, an interrupt) with every process
it started: the launcher's --die-with-parent alone leaves one behind when the
launcher is killed while its sandbox is still being set up (before the sandbox's
first process asked to die with it), and a PID namespace's first process ignores
every signal but SIGKILL. So that process is killed first, by the PID the
launcher (wasmelt-sandbox or bwrap) wrote on --info-fd (the kernel then kills
the whole namespace), then the launcher."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess

INFO_WAIT_MS = 2000  # the launcher writes its info right after making the sandbox's first process
# A SIGKILLed process still runs until it leaves the kernel (a mount in the middle of
# the sandbox's set-up): the kill waits for the namespace to be gone, within reason.
EXIT_WAIT_MS = 10000


def sandbox_init(info_fd: int | None) -> tuple[int, int] | None:
    """(PID, PID namespace inode) of the sandbox's first process from the
    launcher's --info-fd pipe, read to its end (closed once written, or when the
    launcher dies first); None when it wrote nothing (it never made the sandbox)."""
    if info_fd is None:
        return None
    data = b""
    poller = select.poll()
    poller.register(info_fd, select.POLLIN)
    while poller.poll(INFO_WAIT_MS):
        chunk = os.read(info_fd, 4096)
        if not chunk:
            break
        data += chunk
    try:
        info = json.loads(data or b"{}")
        pid, namespace = info.get("child-pid"), info.get("pid-namespace")
    except (ValueError, AttributeError):
        return None
    return (pid, namespace) if isinstance(pid, int) and pid > 0 and isinstance(namespace, int) else None


def kill_sandbox(proc: subprocess.Popen, info_fd: int | None = None) -> None:
    """SIGKILL the sandbox's PID namespace (through its first process), then
    the launcher (`proc`), and reap it; without `info_fd` (no namespace), `proc` only."""
    init = sandbox_init(info_fd)
    if init is not None:
        pid, namespace = init
        try:
            fd = os.pidfd_open(pid)  # that process from here on, whatever reuses its PID later
        except (AttributeError, OSError):
            fd = None  # gone (or no pidfds: the launcher's own --die-with-parent has to do)
        if fd is not None:
            try:
                # Still the sandbox's (a PID reused since is in another namespace): the
                # launcher's child, or an orphan of a launcher that died setting it up.
                if os.stat(f"/proc/{pid}/ns/pid").st_ino == namespace:
                    signal.pidfd_send_signal(fd, signal.SIGKILL)
                    _wait_for_exit(fd)
            except OSError:
                pass  # gone already
            finally:
                os.close(fd)
    proc.kill()
    proc.wait()


def _wait_for_exit(pidfd: int) -> None:
    """Until that process has exited: a pidfd becomes readable once it has, and a
    PID namespace's first process exits only after every other one in it."""
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    poller.poll(EXIT_WAIT_MS)
