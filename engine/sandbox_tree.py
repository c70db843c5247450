"""An action's own directory: made on a tmpfs with the directories of its inputs
and outputs, held to the output contract (declared regular files, nothing else),
its outputs streamed into the store, then removed."""

from __future__ import annotations

import fcntl
import os
import shutil
import stat
import tempfile
import threading
from pathlib import Path

from .actions import Action
from .blobs import OutputRefused, open_regular
from .errors import ActionError
from .sandbox_probe import current_policy


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
    return sorted(dirs, key=lambda d: (d.count("/"), d))


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


def check_outputs(action: Action, sandbox: Path, root: str | None = None) -> None:
    """Every declared output is a regular file; nothing undeclared was written."""
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


def collect_outputs(store, action: Action, sandbox: Path) -> tuple[dict[str, str], frozenset[str]]:
    """Stream the declared outputs into the store: (path -> digest, the
    executable ones). A symlink or special file is refused."""
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
