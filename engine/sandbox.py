"""Running one action: in its own directory (engine.sandbox_tree) holding only its
declared inputs, in its own mount, PID and network namespaces (the mount plan of
engine.sandbox_argv, run by wasmelt's launcher or bubblewrap) where the kernel
allows (engine.sandbox_probe), with a scrubbed environment, a timeout, and the
output contract."""

from __future__ import annotations

import os
import select
import shlex
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from .actions import Action
from .errors import ActionError
from .sandbox_kill import kill_sandbox
from .sandbox_argv import (FIXED_ENV, INSIDE_ACTION_ENV, PASSTHROUGH_ENV, action_environment, namespace_argv,  # noqa: F401
                           check_command, python_dirs, refuse_nested, zig_cache_dir)
from .sandbox_probe import (BWRAP, MODES, SYSTEM_DIRS, Policy, configure, current_policy, launcher_path,  # noqa: F401
                            namespace_unavailable)
from .sandbox_tree import (_on_tmpfs, _reentry_script, _scratch, _tmpfs_mounts, check_outputs,  # noqa: F401
                           collect_outputs, make_sandbox, remove_sandbox, sandbox_parent, tree_dirs)


STDERR_TAIL_LINES = 25


@dataclass(frozen=True)
class Completed:
    stdout: bytes
    stderr: bytes
    duration: float


def tail(text: bytes, lines: int = STDERR_TAIL_LINES) -> str:
    decoded = text.decode("utf-8", "replace").rstrip().splitlines()
    shown = decoded[-lines:]
    prefix = [f"  ... ({len(decoded) - lines} earlier lines)"] if len(decoded) > lines else []
    return "\n".join(prefix + ["  " + line for line in shown])


def printable(text: str) -> str:
    """Text from elsewhere (a remote's error) made safe for a terminal: control
    characters, escape sequences included, shown as escapes."""
    return "".join(c if c.isprintable() or c in "\n\t" else repr(c)[1:-1] for c in text)


def _keep_for_debugging(action: Action, sandbox: Path, command: list[str], env: dict[str, str],
                        policy: Policy) -> str:
    """Keep the failed sandbox; write and name the command that re-enters it."""
    script = _reentry_script(sandbox)
    exports = " ".join(shlex.quote(f"{k}={v}") for k, v in sorted(env.items()))
    shell = shlex.join(command[:command.index("--") + 1] + ["/bin/sh"]) if policy.mode == "namespace" else "/bin/sh"
    # From the sandbox: wasmelt's launcher mounts the new root over its working directory.
    script.write_text(f"#!/bin/sh\n# {action.describe()}: {shlex.join(action.argv)}\n"
                      f"cd {shlex.quote(str(sandbox))} && exec env -i {exports} {shell}\n")
    script.chmod(0o755)
    return (f"\n  sandbox kept (--sandbox_debug): {sandbox}\n  re-enter it with: sh {shlex.quote(str(script))}"
            f"\n  then run: {shlex.join(action.argv)}")


def run_in_sandbox(action: Action, sandbox: Path, default_timeout: float | None,
                   hidden: tuple[str, ...] = (), root: str | None = None,
                   cache_dir: str | None = None) -> Completed:
    """Run the action with `sandbox` as its working directory. `hidden`: host
    trees a namespace sandbox must not show (workspace, outputs, cache)."""
    policy = current_policy()
    tools = {t.name: t.path for t in action.tools}
    argv = list(action.argv)
    argv[0] = tools.get(argv[0], argv[0])
    timeout = action.timeout or default_timeout
    namespaced = policy.mode == "namespace"
    env = {**os.environ, **dict(action.env)} if policy.mode == "none" else \
        action_environment(action, sandbox, "/tmp" if namespaced else None)
    zig = zig_cache_dir(cache_dir)
    env["ZIG_GLOBAL_CACHE_DIR"] = env["ZIG_LOCAL_CACHE_DIR"] = zig
    if namespaced:
        options = namespace_argv(action, sandbox, (*hidden, os.path.expanduser("~")), zig)
        command = [launcher_path(), *options, "--", *argv]
    else:
        command = argv
    logs = sandbox.parent / (sandbox.name + ".log")
    started = time.monotonic()
    try:
        rc, stdout, stderr = _spawn(command, sandbox, env, timeout, logs, via_args=namespaced)
    except subprocess.TimeoutExpired as e:
        raise ActionError(f"{action.describe()} timed out after {timeout:g}s and was killed with every process "
                          f"it started; command: {action.command_line(root)}\n{tail(e.stderr or b'')}") from None
    except OSError as e:
        if e.errno == 7:  # E2BIG
            size = sum(len(a) + 1 for a in argv)
            raise ActionError(f"{action.describe()}: its command line ({len(argv)} arguments, {size} bytes) is "
                              "longer than the system allows; split the target, or pass the file list through "
                              "a file (for example `cat` a list written by another genrule)") from None
        raise ActionError(f"{action.describe()} could not start `{argv[0]}`: {e.strerror}; "
                          "is the tool installed?") from None
    duration = time.monotonic() - started
    if rc != 0:
        how = f"exit code {rc}" if rc > 0 else f"killed by signal {-rc}"
        output = "\n".join(tail(stream) for stream in (stdout, stderr) if stream.strip())
        kept = _keep_for_debugging(action, sandbox, command, env, policy) if policy.debug else ""
        raise ActionError(f"{action.describe()} failed ({how})\n{output}\n  command: {action.command_line(root)}{kept}")
    check_outputs(action, sandbox, root)
    return Completed(stdout, stderr, duration)


def _spawn(command: list[str], cwd: Path, env: dict[str, str], timeout: float | None, logs: Path,
           via_args: bool) -> tuple[int, bytes, bytes]:
    """Run to completion with stdout/stderr in files: a background process
    holding a pipe cannot keep the build waiting. The command stays in this
    process group, so a Ctrl-C reaches it. Stopped early (a timeout, an
    interrupt), the sandbox is killed through its PID namespace's first
    process, whose PID the launcher reports on --info-fd (engine.sandbox_kill)."""
    pass_fds: tuple[int, ...] = ()
    info = None
    if via_args:  # the launcher's options through a pipe: no limit on their number
        r, w = os.pipe()
        info, info_w = os.pipe()
        sep = command.index("--")
        payload = b"".join(a.encode() + b"\0" for a in command[1:sep])
        command = [command[0], "--args", str(r), "--info-fd", str(info_w), *command[sep:]]
        pass_fds = (r, info_w)
    out_path, err_path = logs.with_suffix(".out"), logs.with_suffix(".err")
    try:
        with open(out_path, "w+b") as out, open(err_path, "w+b") as err:
            try:
                proc = subprocess.Popen(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                        pass_fds=pass_fds)
            finally:
                if via_args:
                    os.close(r)
                    os.close(info_w)
            if via_args:
                _write_all(w, payload)
            try:
                rc = _wait(proc, timeout)
            except subprocess.TimeoutExpired:
                kill_sandbox(proc, info)
                err.seek(0)
                raise subprocess.TimeoutExpired(command, timeout, stderr=err.read()[-65536:]) from None
            except BaseException:  # interrupted: the action does not outlive the build
                kill_sandbox(proc, info)
                raise
            out.seek(0)
            err.seek(0)
            return rc, out.read(), err.read()
    finally:
        if info is not None:
            os.close(info)
        for path in (out_path, err_path):
            with _suppress():
                path.unlink()


def _wait(proc: subprocess.Popen, timeout: float | None) -> int:
    """proc.wait(timeout), woken by the exit itself: Popen.wait with a timeout
    polls in doubling sleeps (up to 50 ms), which notices a 10 ms action
    several ms late; a pidfd (Linux 5.3) becomes readable when it exits."""
    if timeout is None:
        return proc.wait()
    try:
        fd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):  # not Linux, or an older kernel
        return proc.wait(timeout=timeout)
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        if not poller.poll(min(timeout * 1000, 2 ** 31 - 1)):
            raise subprocess.TimeoutExpired(proc.args, timeout)
    finally:
        os.close(fd)
    return proc.wait()


def _write_all(fd: int, data: bytes) -> None:
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    except BrokenPipeError:
        pass  # the launcher failed before reading its options: its exit code says so
    finally:
        os.close(fd)


class _suppress:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return exc[0] is not None and issubclass(exc[0], OSError)
