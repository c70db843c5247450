"""Which sandbox this process's actions get: the policy from the command's
flags (--sandbox, --sandbox_debug), and the program that makes its namespaces
on this machine: wasmelt's own launcher (engine/sandbox_launcher.c, which
scripts/setup builds beside the interpreter), else bubblewrap, each tried once
(else a loud fallback to plain directories). Both read the same mount plan
(engine.sandbox_argv)."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass

from .errors import ActionError, ConfigError


MODES = ("namespace", "directory", "none")
# What a namespace sandbox sees of the host, read-only (symlinks stay symlinks).
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")
BWRAP = "bwrap"
LAUNCHER = "wasmelt-sandbox"  # engine/sandbox_launcher.c, built by scripts/setup beside the interpreter
# The program that runs the mount plan, when the default will not do: `bwrap`
# for bubblewrap, or a path.
LAUNCHER_ENV = "WASMELT_SANDBOX_LAUNCHER"


@dataclass(frozen=True)
class Policy:
    """How actions are contained: `mode` one of MODES; `debug` keeps a failed
    action's sandbox and says how to re-enter it."""

    mode: str = "namespace"
    debug: bool = False
    explicit: bool = False  # the user asked for the mode (no silent fallback)


_requested = Policy()
_policy_lock = threading.Lock()  # actions start on several threads
_policy: Policy | None = None  # _requested once checked against this machine


def configure(mode: str | None, debug: bool = False) -> None:
    """Set the policy of this process's builds from the command's flags
    (`--sandbox`, `--sandbox_debug`); checked when the first action runs."""
    global _requested, _policy
    if mode is not None and mode not in MODES:
        raise ConfigError(f"--sandbox takes one of {', '.join(MODES)}, got `{mode}`")
    _requested, _policy = Policy(mode or "namespace", debug, mode is not None), None


def current_policy() -> Policy:
    """The policy in force: namespace mode falls back to directory mode,
    loudly, where namespaces are unavailable, unless it was asked for."""
    global _policy
    with _policy_lock:
        return _policy or _resolve()


def _resolve() -> Policy:
    global _policy
    wanted = _requested
    why = namespace_unavailable() if wanted.mode == "namespace" else None
    if why and wanted.explicit:
        raise ActionError(f"--sandbox=namespace: {why}; install bubblewrap (Debian: apt-get install "
                          "bubblewrap) or pass --sandbox=directory")
    if why:
        _warn_fallback(why)
        wanted = Policy("directory", wanted.debug, False)
    _policy = wanted
    return _policy


@functools.lru_cache(maxsize=1)
def _warn_fallback(why: str) -> None:
    print(f"WARNING: sandbox: {why}; actions run in plain directories (--sandbox=directory) that do not stop "
          "them from reading or writing anything on this machine", file=sys.stderr)


def namespace_unavailable() -> str | None:
    """Why actions cannot get their own namespaces here, or None."""
    return _launcher(os.environ.get(LAUNCHER_ENV))[1]


def own_launcher() -> str:
    """Where scripts/setup puts wasmelt-sandbox: beside the interpreter."""
    return os.path.join(os.path.dirname(sys.executable), LAUNCHER)


def launcher_path() -> str:
    """The program that makes this machine's namespace sandboxes."""
    return _launcher(os.environ.get(LAUNCHER_ENV))[0] or BWRAP


@functools.lru_cache(maxsize=4)  # by the variable: a server takes each request's environment
def _launcher(explicit: str | None) -> tuple[str | None, str | None]:
    """(the first program of the candidates that makes namespaces here, None),
    or (None, why none does)."""
    if not sys.platform.startswith("linux"):
        return None, f"namespaces need Linux (this is {sys.platform})"
    own = own_launcher()
    candidates = [explicit] if explicit else [own, BWRAP] if os.access(own, os.X_OK) else [BWRAP]
    reasons = []
    for name in candidates:
        exe, why = _probe(name)
        if exe:
            return exe, None
        reasons.append(why)
    return None, "; ".join(reasons)


def _probe(name: str) -> tuple[str | None, str | None]:
    label = "bubblewrap (`bwrap`)" if name == BWRAP else f"`{name}`"
    exe = shutil.which(name)
    if exe is None:
        return None, f"{label} is not installed"
    try:
        with tempfile.TemporaryDirectory(prefix="wasmelt-probe-") as cwd:  # the launcher's root goes over it
            probe = subprocess.run([exe, "--unshare-all", "--die-with-parent", *_system_args(), "--", "/bin/true"],
                                   cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, f"{label} could not run: {e}"
    if probe.returncode != 0:
        reason = probe.stderr.decode("utf-8", "replace").strip().splitlines()
        return None, f"{label} cannot create namespaces here ({reason[-1] if reason else f'exit {probe.returncode}'})"
    return exe, None


@functools.lru_cache(maxsize=1)
def _system_args() -> tuple[str, ...]:
    args: list[str] = []
    for d in SYSTEM_DIRS:
        if os.path.islink(d):
            args += ["--symlink", os.readlink(d), d]
        elif os.path.isdir(d):
            args += ["--ro-bind", d, d]
    return (*args, "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp")
