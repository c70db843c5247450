"""Running one action: a fresh directory holding only its declared inputs, run
in its own mount, PID and network namespaces (bubblewrap) where the kernel
allows, with a scrubbed environment, a timeout, and the output contract."""

from __future__ import annotations

import fcntl
import functools
import importlib.util
import os
import select
import shlex
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .actions import Action
from .errors import ActionError, ConfigError

# Passed through from the host but kept out of action keys: where to find
# programs and their own caches; a tool's identity (in the key) says what ran.
PASSTHROUGH_ENV = ("PATH", "HOME", "ZIG_GLOBAL_CACHE_DIR", "XDG_CACHE_HOME")
FIXED_ENV = {"LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TZ": "UTC", "SOURCE_DATE_EPOCH": "0",
             "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1"}
STDERR_TAIL_LINES = 25
# Set in every action's environment: a wasmelt started by an action refuses at
# once instead of waiting for the workspace lock its own build holds.
INSIDE_ACTION_ENV = "WASMELT_INSIDE_ACTION"

MODES = ("namespace", "directory", "none")
# What a namespace sandbox sees of the host, read-only (symlinks stay symlinks).
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")
BWRAP = "bwrap"


@dataclass(frozen=True)
class Completed:
    stdout: bytes
    stderr: bytes
    duration: float


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


@functools.lru_cache(maxsize=1)
def namespace_unavailable() -> str | None:
    """Why actions cannot get their own namespaces here, or None."""
    if not sys.platform.startswith("linux"):
        return f"namespaces need Linux (this is {sys.platform})"
    exe = shutil.which(BWRAP)
    if exe is None:
        return "bubblewrap (`bwrap`) is not installed"
    try:
        probe = subprocess.run([exe, "--unshare-all", "--die-with-parent", *_system_args(), "--", "/bin/true"],
                               stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"`bwrap` could not run: {e}"
    if probe.returncode != 0:
        reason = probe.stderr.decode("utf-8", "replace").strip().splitlines()
        return f"`bwrap` cannot create namespaces here ({reason[-1] if reason else f'exit {probe.returncode}'})"
    return None


# -- the environment and the view of the host -----------------------------------

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
def _system_args() -> tuple[str, ...]:
    args: list[str] = []
    for d in SYSTEM_DIRS:
        if os.path.islink(d):
            args += ["--symlink", os.readlink(d), d]
        elif os.path.isdir(d):
            args += ["--ro-bind", d, d]
    return (*args, "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp")


@functools.lru_cache(maxsize=1)
def bwrap_path() -> str:
    return shutil.which(BWRAP) or BWRAP


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
    """bwrap arguments for the host: the system and the tools read-only, and
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
    """bwrap arguments: the host's (_host_mounts), the sandbox read-only but
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


def bwrap_argv(action: Action, sandbox: Path, hidden: tuple[str, ...], zig: str | None = None) -> list[str]:
    """The options of one action's bwrap (passed through --args)."""
    args = ["--unshare-all", "--die-with-parent", "--new-session", "--hostname", "sandbox"]
    if getattr(action, "network", False):
        args.append("--share-net")
    return args + _mounts(action, sandbox, hidden, zig)


# -- running ----------------------------------------------------------------------

def tail(text: bytes, lines: int = STDERR_TAIL_LINES) -> str:
    decoded = text.decode("utf-8", "replace").rstrip().splitlines()
    shown = decoded[-lines:]
    prefix = [f"  ... ({len(decoded) - lines} earlier lines)"] if len(decoded) > lines else []
    return "\n".join(prefix + ["  " + line for line in shown])


def printable(text: str) -> str:
    """Text from elsewhere (a remote's error) made safe for a terminal: control
    characters, escape sequences included, shown as escapes."""
    return "".join(c if c.isprintable() or c in "\n\t" else repr(c)[1:-1] for c in text)


# Where sandboxes go, when it is a tmpfs: $XDG_RUNTIME_DIR (the user's own) if
# set, else /dev/shm. On a disk each of an action's dozen mkdirs, file writes
# and rmdirs is a journal write (1-2 ms each).
SCRATCH_DIRS = ("XDG_RUNTIME_DIR", "/dev/shm")
_LOCK = ".lock"  # held by the process using the directory; free once it died
_scratch_lock = threading.Lock()
_scratch: list[Path | None] = []  # this process's directory, once looked for


def sandbox_parent(fallback: Path) -> Path:
    """Where this process makes its sandboxes: its own directory on a tmpfs
    when there is one, else `fallback` (under the cache). A sandbox kept for
    --sandbox_debug stays under `fallback`, where no later build sweeps it."""
    if current_policy().debug:
        return fallback
    with _scratch_lock:
        if not _scratch:
            try:
                _scratch.append(_claim_scratch())
            except OSError:  # a tmpfs that refuses us: the cache's directory does
                _scratch.append(None)
    return _scratch[0] or fallback


def _tmpfs_mounts() -> set[str]:
    try:
        with open("/proc/self/mounts", encoding="utf-8", errors="replace") as f:
            return {fields[1] for fields in (line.split() for line in f) if len(fields) > 2 and fields[2] == "tmpfs"}
    except OSError:
        return set()


def _on_tmpfs(path: str, tmpfs: set[str]) -> bool:
    mount = path
    while not os.path.ismount(mount):
        mount = os.path.dirname(mount)
    return mount in tmpfs


def _claim_scratch() -> Path | None:
    """This process's directory `<tmpfs>/wasmelt-<uid>/p*`, locked while it
    lives; directories of processes that died (a killed build) are removed
    first. None where it is not usable: missing, not a tmpfs, not ours, not private."""
    where = os.path.realpath(os.environ.get(SCRATCH_DIRS[0]) or SCRATCH_DIRS[1])
    if not os.path.isdir(where) or not os.access(where, os.W_OK | os.X_OK) or not _on_tmpfs(where, _tmpfs_mounts()):
        return None
    base = os.path.join(where, f"wasmelt-{os.getuid()}")
    try:
        os.mkdir(base, 0o700)
    except FileExistsError:
        pass
    st = os.lstat(base)  # another user's, or a link planted in a shared /dev/shm: not used
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
        return None
    _sweep_stale(base)
    mine = tempfile.mkdtemp(dir=base, prefix=f"p{os.getpid()}-")
    fd = os.open(os.path.join(mine, _LOCK), os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)  # held (the fd left open) for the life of this process
    return Path(mine)


def _sweep_stale(base: str) -> None:
    """Remove the sandbox directories of processes that are gone: their lock is free."""
    for entry in os.scandir(base):
        try:
            fd = os.open(os.path.join(entry.path, _LOCK), os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            continue  # not a process directory, or one still being made
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue  # its process is alive
        shutil.rmtree(entry.path, ignore_errors=True)
        os.close(fd)


def tree_dirs(action: Action) -> list[str]:
    """The directories the action's inputs and outputs need, parents first."""
    dirs = {""}
    for art in (*action.inputs, *action.outputs):
        d = os.path.dirname(art.path)
        while d not in dirs:
            dirs.add(d)
            d = os.path.dirname(d)
    dirs.discard("")
    return sorted(dirs, key=lambda d: d.count("/"))


def make_sandbox(parent: Path, action: Action | None = None) -> Path:
    """A fresh directory under `parent` with `.tmp` and the directories of the
    action's inputs and outputs (each made once: a mkdir is a syscall each)."""
    try:
        root = tempfile.mkdtemp(dir=parent, prefix="a-")
    except FileNotFoundError:
        parent.mkdir(parents=True, exist_ok=True)
        root = tempfile.mkdtemp(dir=parent, prefix="a-")
    os.mkdir(f"{root}/.tmp")
    for d in tree_dirs(action) if action is not None else ():
        os.mkdir(f"{root}/{d}")
    return Path(root)


def _reentry_script(sandbox: Path) -> Path:
    return sandbox.parent / (sandbox.name + ".reenter.sh")


def _keep_for_debugging(action: Action, sandbox: Path, command: list[str], env: dict[str, str],
                        policy: Policy) -> str:
    """Keep the failed sandbox; write and name the command that re-enters it."""
    script = _reentry_script(sandbox)
    exports = " ".join(shlex.quote(f"{k}={v}") for k, v in sorted(env.items()))
    shell = shlex.join(command[:command.index("--") + 1] + ["/bin/sh"]) if policy.mode == "namespace" \
        else f"cd {shlex.quote(str(sandbox))} && /bin/sh"
    script.write_text(f"#!/bin/sh\n# {action.describe()}: {shlex.join(action.argv)}\n"
                      f"exec env -i {exports} {shell}\n")
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
        options = bwrap_argv(action, sandbox, (*hidden, os.path.expanduser("~")), zig)
        command = [bwrap_path(), *options, "--", *argv]
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
    process group, so a Ctrl-C reaches it (bwrap, killed, takes its whole PID
    namespace with it)."""
    pass_fds: tuple[int, ...] = ()
    if via_args:  # bwrap options through a pipe: no limit on their number
        r, w = os.pipe()
        sep = command.index("--")
        payload = b"".join(a.encode() + b"\0" for a in command[1:sep])
        command = [command[0], "--args", str(r), *command[sep:]]
        pass_fds = (r,)
    out_path, err_path = logs.with_suffix(".out"), logs.with_suffix(".err")
    try:
        with open(out_path, "w+b") as out, open(err_path, "w+b") as err:
            try:
                proc = subprocess.Popen(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                        pass_fds=pass_fds)
            finally:
                if via_args:
                    os.close(r)
            if via_args:
                _write_all(w, payload)
            try:
                rc = _wait(proc, timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                err.seek(0)
                raise subprocess.TimeoutExpired(command, timeout, stderr=err.read()[-65536:]) from None
            except BaseException:  # interrupted: the action does not outlive the build
                proc.kill()
                raise
            out.seek(0)
            err.seek(0)
            return rc, out.read(), err.read()
    finally:
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
        pass  # bwrap failed before reading its options: its exit code says so
    finally:
        os.close(fd)


class _suppress:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return exc[0] is not None and issubclass(exc[0], OSError)


def check_outputs(action: Action, sandbox: Path, root: str | None = None) -> None:
    """Every declared output is a regular file; nothing undeclared was written."""
    from .store import OutputRefused, open_regular

    for out in action.outputs:
        if out.path in action.optional_outputs and not os.path.lexists(sandbox / out.path):
            continue
        try:
            os.close(open_regular(sandbox, out.path))  # no symlink anywhere on the way
        except OutputRefused as e:
            raise ActionError(f"{action.describe()}: output {e}; outputs must be regular files; "
                              f"command: {action.command_line(root)}") from None
        except OSError:
            raise ActionError(f"{action.describe()} did not produce declared output `{out.path}`; "
                              f"command: {action.command_line(root)}") from None
    declared = {a.path for a in action.inputs} | {a.path for a in action.outputs}
    stray = sorted(rel for rel in _tree_files(str(sandbox)) if rel not in declared)
    if stray:
        shown = ", ".join(f"`{s}`" for s in stray[:5]) + (f" and {len(stray) - 5} more" if len(stray) > 5 else "")
        raise ActionError(f"{action.describe()} wrote undeclared files {shown}; declare them as outputs "
                          f"or write temporary files to $TMPDIR; command: {action.command_line(root)}")


def _tree_files(root: str) -> list[str]:
    """Everything under root that is not a directory (a link to one included),
    relative to it; `.tmp` ($TMPDIR) is not looked into."""
    found: list[str] = []
    stack = [("", root)]
    while stack:
        rel, full = stack.pop()
        try:
            with os.scandir(full) as entries:
                for entry in entries:
                    name = rel + entry.name
                    if not entry.is_dir(follow_symlinks=False):
                        found.append(name)
                    elif name != ".tmp":
                        stack.append((name + "/", entry.path))
        except OSError:
            found.append(rel or ".")  # a directory the action made unreadable: not what it declared
    return found


def remove_sandbox(path: Path, checked: Action | None = None) -> None:
    """Remove a sandbox. `checked`: its action, whose outputs passed
    check_outputs (nothing but declared files and directories is there, and
    nothing runs in it any more): its files and directories are removed by
    name, without walking the tree; otherwise (a failure) the whole tree, as
    found, never following a link."""
    if current_policy().debug and _reentry_script(path).exists():  # kept by --sandbox_debug
        return
    if checked is not None:
        root = str(path)
        try:
            for art in (*checked.inputs, *checked.outputs):
                try:
                    os.unlink(f"{root}/{art.path}")
                except FileNotFoundError:
                    pass  # an optional output not written
            for d in reversed(tree_dirs(checked)):
                os.rmdir(f"{root}/{d}")
            os.rmdir(f"{root}/.tmp")
            os.rmdir(root)
            return
        except OSError:
            pass  # something more was there (files in $TMPDIR): the walk below
    shutil.rmtree(path, ignore_errors=True)


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


def collect_outputs(store, action: Action, sandbox: Path) -> tuple[dict[str, str], frozenset[str]]:
    """Stream the declared outputs into the store: (path -> digest, the
    executable ones). A symlink or special file is refused."""
    from .store import OutputRefused

    outputs: dict[str, str] = {}
    executable = set()
    for out in action.outputs:
        if not os.path.lexists(sandbox / out.path):
            continue  # an optional output the tool did not write
        try:
            digest, is_exec = store.put_output(sandbox, out.path)
        except OutputRefused as e:
            raise ActionError(f"{action.describe()}: output {e}; outputs must be regular files; "
                              f"command: {action.command_line()}") from None
        outputs[out.path] = digest
        if is_exec:
            executable.add(out.path)
    return outputs, frozenset(executable)


class LazyBlobs:
    """An action's outputs as bytes, read from its sandbox only when asked
    (a remote upload, a reproducibility mismatch): large outputs are never
    held in memory otherwise."""

    def __init__(self, sandbox: Path, outputs: dict[str, str]):
        self.sandbox, self.outputs = sandbox, outputs

    def __getitem__(self, path: str) -> bytes:
        return (self.sandbox / path).read_bytes()

    def all(self) -> dict[str, bytes]:
        return {path: self[path] for path in self.outputs}
