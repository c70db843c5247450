"""Running one action: a fresh directory holding only its declared inputs,
a scrubbed environment, a timeout, and the contract that every declared
output is produced."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .actions import Action
from .errors import ActionError

# Passed through from the host but kept out of action keys: where to find
# programs and their own caches; a tool's identity (in the key) says what ran.
PASSTHROUGH_ENV = ("PATH", "HOME", "ZIG_GLOBAL_CACHE_DIR", "XDG_CACHE_HOME")
FIXED_ENV = {"LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TZ": "UTC", "SOURCE_DATE_EPOCH": "0",
             "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1"}
STDERR_TAIL_LINES = 25


@dataclass(frozen=True)
class Completed:
    stdout: bytes
    stderr: bytes
    duration: float


def action_environment(action: Action, sandbox: Path) -> dict[str, str]:
    env = {k: os.environ[k] for k in PASSTHROUGH_ENV if k in os.environ}
    env.update(FIXED_ENV)
    env["TMPDIR"] = str(sandbox / ".tmp")
    env.update(dict(action.env))
    return env


def tail(text: bytes, lines: int = STDERR_TAIL_LINES) -> str:
    decoded = text.decode("utf-8", "replace").rstrip().splitlines()
    shown = decoded[-lines:]
    prefix = [f"  ... ({len(decoded) - lines} earlier lines)"] if len(decoded) > lines else []
    return "\n".join(prefix + ["  " + line for line in shown])


def make_sandbox(parent: Path) -> Path:
    parent.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(dir=parent, prefix="a-"))
    (path / ".tmp").mkdir()
    return path


def run_in_sandbox(action: Action, sandbox: Path, default_timeout: float | None) -> Completed:
    tools = {t.name: t.path for t in action.tools}
    argv = list(action.argv)
    argv[0] = tools.get(argv[0], argv[0])
    timeout = action.timeout or default_timeout
    started = time.monotonic()
    try:
        proc = subprocess.run(argv, cwd=sandbox, env=action_environment(action, sandbox),
                              stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise ActionError(f"{action.describe()} timed out after {timeout:g}s and was killed; "
                          f"command: {' '.join(action.argv)}\n{tail(e.stderr or b'')}") from None
    except OSError as e:
        raise ActionError(f"{action.describe()} could not start `{argv[0]}`: {e.strerror}; "
                          "is the tool installed?") from None
    duration = time.monotonic() - started
    if proc.returncode != 0:
        how = f"exit code {proc.returncode}" if proc.returncode > 0 else f"killed by signal {-proc.returncode}"
        output = "\n".join(tail(stream) for stream in (proc.stdout, proc.stderr) if stream.strip())
        raise ActionError(f"{action.describe()} failed ({how})\n{output}\n  command: {' '.join(action.argv)}")
    for out in action.outputs:
        path = sandbox / out.path
        if out.path in action.optional_outputs and not path.exists():
            continue
        if not path.is_file() or path.is_symlink():
            raise ActionError(f"{action.describe()} did not produce declared output `{out.path}`"
                              f"{' (it is not a regular file)' if path.exists() else ''}; "
                              f"command: {' '.join(action.argv)}")
    declared = {a.path for a in action.inputs} | {a.path for a in action.outputs}
    stray = sorted(
        rel for rel in (os.path.relpath(os.path.join(d, f), sandbox) for d, _, files in os.walk(sandbox) for f in files)
        if rel not in declared and not rel.startswith(".tmp" + os.sep))
    if stray:
        shown = ", ".join(f"`{s}`" for s in stray[:5]) + (f" and {len(stray) - 5} more" if len(stray) > 5 else "")
        raise ActionError(f"{action.describe()} wrote undeclared files {shown}; declare them as outputs "
                          f"or write temporary files to $TMPDIR; command: {' '.join(action.argv)}")
    return Completed(proc.stdout, proc.stderr, duration)


def remove_sandbox(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
