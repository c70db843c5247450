"""What an action sees of the host: its scrubbed environment, and its namespace
sandbox's mounts (the system and the tools read-only, its own directory writable
only where it declared outputs, the workspace, the cache and $HOME hidden), in
bubblewrap's option syntax, which wasmelt's own launcher reads too."""

from __future__ import annotations

import functools
import importlib.util
import os
import sys
from pathlib import Path

from .actions import Action
from .errors import ConfigError
from .sandbox_probe import SYSTEM_DIRS, _system_args


# Passed through from the host but kept out of action keys: where to find
# programs and their own caches; a tool's identity (in the key) says what ran.
PASSTHROUGH_ENV = ("PATH", "HOME", "ZIG_GLOBAL_CACHE_DIR", "XDG_CACHE_HOME")
FIXED_ENV = {"LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TZ": "UTC", "SOURCE_DATE_EPOCH": "0",
             "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1"}
# Set in every action's environment: a wasmelt started by an action refuses at
# once instead of waiting for the workspace lock its own build holds.
INSIDE_ACTION_ENV = "WASMELT_INSIDE_ACTION"


def action_environment(action: Action, sandbox: Path, tmpdir: str | None = None) -> dict[str, str]:
    env = {k: os.environ[k] for k in PASSTHROUGH_ENV if k in os.environ}
    env.update(FIXED_ENV)
    env["TMPDIR"] = tmpdir or str(sandbox / ".tmp")
    env[INSIDE_ACTION_ENV] = "1"
    env.update(dict(action.env))
    return env


def zig_cache_dir(cache_dir: str | None = None) -> str:
    """zig's cache (compiled libc and compiler-rt, shared by every zig run): the one
    writable host directory a namespace sandbox mounts. Inside the wasmelt cache
    (`<cache>/zig`, so `cache gc` and `clean --expunge` cover it) unless the user's
    ZIG_GLOBAL_CACHE_DIR names another."""
    explicit = os.environ.get("ZIG_GLOBAL_CACHE_DIR")
    if explicit:
        return os.path.abspath(explicit)
    if cache_dir:
        return os.path.join(os.path.abspath(cache_dir), "zig")
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(os.path.abspath(base), "zig")


@functools.lru_cache(maxsize=1)
def python_dirs() -> tuple[str, ...]:
    """The interpreter, its environment and the installed wasmelt package:
    builtin stages run as `python -m wasmelt...`."""
    dirs = {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(os.path.realpath(sys.executable))}
    dirs.update(p for p in sys.path if p and os.path.isdir(p) and "site-packages" in p)
    for name in ("wasmelt", "wasmelt.engine", "wasmelt.rules", "wasmelt.toolchains"):
        spec = importlib.util.find_spec(name)
        dirs.update(spec.submodule_search_locations or () if spec else ())
    return tuple(sorted(os.path.realpath(d) for d in dirs if d))


def _inside(path: str, parent: str) -> bool:
    return path == parent or path.startswith(parent.rstrip("/") + "/")


@functools.lru_cache(maxsize=256)
def _host_mounts(tools: tuple, hidden: tuple[str, ...]) -> tuple[str, ...]:
    """Mount options for the host: the system and the tools read-only, and
    nothing of `hidden` (the workspace, the cache, $HOME) even where a mounted
    tree contains it (the sandbox's /tmp is its own, empty). The same for
    every action with these tools: made once."""
    ro = set(python_dirs())
    for tool in tools:
        if os.path.isabs(tool.path):
            real = os.path.realpath(tool.path)
            ro.update((os.path.dirname(real), os.path.dirname(os.path.abspath(tool.path))))
    ro = {d for d in ro if os.path.exists(d) and not any(_inside(d, s) for s in SYSTEM_DIRS)}
    bound = list(ro) + list(SYSTEM_DIRS)
    hide = {h for h in hidden if any(_inside(h, b) and h != b for b in bound)}
    ro = {d for d in ro if not any(d == h or _inside(h, d) for h in hidden)}  # never a tree holding the workspace
    ro = {d for d in ro if not any(d != o and _inside(d, o) for o in ro)}  # inside another: already there
    depth = lambda p: p.rstrip("/").count("/")  # noqa: E731 - a sort key
    plan = sorted([(depth(h), 0, "--tmpfs", h) for h in hide] + [(depth(d), 1, "--ro-bind", d) for d in ro])
    args = list(_system_args())
    for _, _, kind, path in plan:
        args += [kind, path] if kind == "--tmpfs" else [kind, path, path]
    return tuple(args)


def _mounts(action: Action, sandbox: Path, hidden: tuple[str, ...], zig: str | None = None) -> list[str]:
    """Mount options: the host's (_host_mounts), the sandbox read-only but
    for its output directories."""
    root = str(sandbox)
    args = list(_host_mounts(action.tools, hidden))
    zig = zig or zig_cache_dir()
    if not os.path.isdir(zig):  # `clean --expunge` may remove it under a running server
        os.makedirs(zig, exist_ok=True)
    # The working directory is writable (what lands there undeclared is
    # reported by check_outputs); the inputs' directories are read-only, and
    # the outputs' directories writable again, with any input in one of them
    # read-only once more.
    args += ["--bind", zig, zig, "--bind", root, root]
    out_dirs = sorted({os.path.dirname(o.path) for o in action.outputs})
    in_dirs = sorted({os.path.dirname(a.path) for a in action.inputs} - {""})
    covered: list[str] = []
    for d in in_dirs:
        if not any(_inside(d, c) for c in covered) and not any(_inside(d, o) for o in out_dirs):
            covered.append(d)
            args += ["--ro-bind", f"{root}/{d}", f"{root}/{d}"]
    for d in out_dirs:
        args += ["--bind", f"{root}/{d}", f"{root}/{d}"]
    for art in action.inputs:
        if "/" not in art.path or any(_inside(art.path, d) for d in out_dirs):
            args += ["--ro-bind", f"{root}/{art.path}", f"{root}/{art.path}"]
    return args + ["--chdir", root]


def namespace_argv(action: Action, sandbox: Path, hidden: tuple[str, ...], zig: str | None = None) -> list[str]:
    """The options of one action's launcher (passed through --args)."""
    args = ["--unshare-all", "--die-with-parent", "--new-session", "--hostname", "sandbox"]
    if getattr(action, "network", False):
        args.append("--share-net")
    return args + _mounts(action, sandbox, hidden, zig)


def check_command(argv: tuple[str, ...], env: dict[str, str]) -> None:
    """ValueError for what no process can be given: a NUL byte in an argument
    or the environment, an `=` in a variable's name."""
    for i, arg in enumerate(argv):
        if "\0" in arg:
            raise ValueError(f"argument {i} of the command contains a NUL byte: {arg[:60]!r}")
    for name, value in env.items():
        if "\0" in name or "\0" in value or "=" in name or not name:
            raise ValueError(f"environment variable {name[:60]!r} = {value[:60]!r}: names and values cannot "
                             "contain NUL bytes, and names cannot be empty or contain `=`")


def refuse_nested() -> None:
    """A wasmelt started inside an action stops at once: it would wait for the
    lock of the build that runs it, and it escapes that build's key."""
    if os.environ.get(INSIDE_ACTION_ENV):
        raise ConfigError("wasmelt cannot run inside an action of another wasmelt build (the outer build holds "
                          "the workspace lock, and what the inner one reads is not in the action's key); "
                          "make the inner targets dependencies of this one instead")
