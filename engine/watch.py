"""`wasmelt watch`: build (or test) the targets, then again after every
change to a source file or BUILD.toml, using OS file events."""

from __future__ import annotations

import re
from pathlib import Path

from .workspace import SKIPPED_DIRS

# Files editors write beside the one being edited, never sources: `sed -i`'s sedXXXXXX, emacs'
# #x# autosaves, swap files, JetBrains' safe-write copies, `x~` backups (`.#x` lock links and
# `.x.swp` swap files start with a dot: hidden files are skipped anyway).
_EDITOR_TEMP = re.compile(r"^sed[A-Za-z0-9]{6}$|^#.*#$|.*~$|.*\.sw[a-p]$|.*___jb_(tmp|old)___$")


def editor_temp_file(name: str) -> bool:
    """Whether `name` is an editor's temporary or backup file."""
    if name.isdigit():  # vim's write test: 4913, then 4913 + 123k while that name exists
        return int(name) >= 4913 and (int(name) - 4913) % 123 == 0
    return bool(_EDITOR_TEMP.match(name))


def _relevant(root: Path):
    def accept(change, path: str) -> bool:
        rel = Path(path).relative_to(root) if path.startswith(str(root)) else Path(path)
        if any(part in SKIPPED_DIRS or part.startswith(".") for part in rel.parts):
            return False
        return not editor_temp_file(rel.name)
    return accept


def watch(root: Path, rebuild, *, debounce_ms: int = 300, stop_event=None, on_change=None) -> None:
    """Call `rebuild()` now and after each debounced batch of changes
    (`on_change` is told which files changed). Ctrl-C raises KeyboardInterrupt."""
    import watchfiles

    batches = watchfiles.watch(root, watch_filter=_relevant(root), debounce=debounce_ms, stop_event=stop_event,
                               raise_interrupt=True, yield_on_timeout=True, rust_timeout=200)
    next(batches)  # the first (empty) batch means the OS watch is in place: no edit is missed
    rebuild()
    for changes in batches:
        if not changes:
            continue
        changed = sorted({str(Path(p).relative_to(root)) for _, p in changes})
        shown = ", ".join(changed[:5]) + (f" and {len(changed) - 5} more" if len(changed) > 5 else "")
        if on_change is not None:
            on_change(f"wasmelt watch: changed {shown}; rebuilding")
        rebuild()
