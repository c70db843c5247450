"""`wasmelt watch`: build (or test) the targets, then again after every
change to a source file or BUILD.toml, from the server's own inotify watcher."""

from __future__ import annotations

import os
import re
import select
import time
from pathlib import Path

from .errors import ConfigError
from .watcher import Watcher, WatchUnavailable
from .workspace import SKIPPED_DIRS

# Files editors write beside the one being edited, never sources: `sed -i`'s sedXXXXXX, emacs'
# #x# autosaves, swap files, JetBrains' safe-write copies, `x~` backups (`.#x` lock links and
# `.x.swp` swap files start with a dot: hidden files are skipped anyway).
_EDITOR_TEMP = re.compile(r"^sed[A-Za-z0-9]{6}$|^#.*#$|.*~$|.*\.sw[a-p]$|.*___jb_(tmp|old)___$")
STOP_POLL_S = 0.2  # how often a wait looks at stop_event
QUIET_S = 0.05  # no event for this long ends a batch of changes


def editor_temp_file(name: str) -> bool:
    """Whether `name` is an editor's temporary or backup file."""
    if name.isdigit():  # vim's write test: 4913, then 4913 + 123k while that name exists
        return int(name) >= 4913 and (int(name) - 4913) % 123 == 0
    return bool(_EDITOR_TEMP.match(name))


def relevant(root: Path, path: str) -> bool:
    """Whether a change to `path` can change a build: not in the outputs, the
    cache or a hidden directory, and not an editor's temporary file."""
    rel = Path(os.path.relpath(path, root))
    if rel.parts[:1] == ("..",) or any(part in SKIPPED_DIRS or part.startswith(".") for part in rel.parts):
        return False
    return not editor_temp_file(rel.name)


def _watcher(root: Path, ignored: list[str]) -> Watcher:
    skipped = [str(root / d) for d in SKIPPED_DIRS]
    try:
        return Watcher([str(root)], skipped + ignored)
    except WatchUnavailable as e:
        raise ConfigError(f"wasmelt watch cannot watch {root} for changes ({e.strerror}); if it names the watch "
                          "limit, raise it (sysctl fs.inotify.max_user_watches) or watch a smaller workspace; "
                          "else rerun `wasmelt build` by hand after edits") from None


def _readable(watcher: Watcher, seconds: float | None, stop_event) -> bool | None:
    """Whether events arrive within `seconds` (None: wait for them); None once stop_event is set."""
    if stop_event is None:
        return bool(select.select([watcher.fd], [], [], seconds)[0])
    deadline = None if seconds is None else time.monotonic() + seconds
    while not stop_event.is_set():
        left = STOP_POLL_S if deadline is None else min(STOP_POLL_S, deadline - time.monotonic())
        if left <= 0:
            return False
        if select.select([watcher.fd], [], [], left)[0]:
            return True
    return None


def _changes(watcher: Watcher, root: Path) -> list[str] | None:
    """The relevant paths changed since the last call, relative to root; None: too many to know."""
    alive = watcher.sync()
    paths = watcher.drain_paths()
    if not alive and not os.path.isdir(root):
        raise ConfigError(f"wasmelt watch: the workspace {root} was removed or moved; watch stopped")
    if paths is None or not alive:
        return None
    return sorted(os.path.relpath(p, root) for p in paths if relevant(root, p))


def watch(root: Path, rebuild, *, debounce_ms: int = 300, stop_event=None, on_change=None,
          ignored: tuple[str, ...] = ()) -> None:
    """Call `rebuild()` now and after each debounced batch of changes
    (`on_change` is told which files changed). Ctrl-C raises KeyboardInterrupt.
    `ignored`: more directories whose changes never count (the cache, wherever it is)."""
    root = Path(root)
    watcher = _watcher(root, list(ignored))
    try:
        rebuild()  # the watch was in place before it: no edit made meanwhile is missed
        while _readable(watcher, None, stop_event):
            changed = _changes(watcher, root)
            if changed == []:
                continue
            # What follows within QUIET_S belongs to the same save (an editor's rename dance, a
            # checkout), up to debounce_ms in all.
            until = time.monotonic() + debounce_ms / 1000
            while changed is not None and (left := until - time.monotonic()) > 0:
                arrived = _readable(watcher, min(QUIET_S, left), stop_event)
                if arrived is None:
                    return
                if not arrived:
                    break
                more = _changes(watcher, root)
                changed = None if more is None else sorted(set(changed) | set(more))
            if changed is None:
                watcher.close()  # events were lost: start over from a fresh watch
                watcher = _watcher(root, list(ignored))
                shown = "more files than the watcher could follow"
            else:
                shown = ", ".join(changed[:5]) + (f" and {len(changed) - 5} more" if len(changed) > 5 else "")
            if on_change is not None:
                on_change(f"wasmelt watch: changed {shown}; rebuilding")
            rebuild()
    finally:
        watcher.close()
