"""`wasmelt watch`: build (or test) the targets, then again after every
change to a source file or BUILD.toml, using OS file events."""

from __future__ import annotations

from pathlib import Path

from .workspace import SKIPPED_DIRS


def _relevant(root: Path):
    def accept(change, path: str) -> bool:
        rel = Path(path).relative_to(root) if path.startswith(str(root)) else Path(path)
        if any(part in SKIPPED_DIRS or part.startswith(".") for part in rel.parts):
            return False
        return not rel.name.endswith("~")
    return accept


def watch(root: Path, rebuild, *, debounce_ms: int = 300, stop_event=None, on_change=None) -> None:
    """Call `rebuild()` now and after each debounced batch of changes
    (`on_change` is told which files changed)."""
    import watchfiles

    batches = watchfiles.watch(root, watch_filter=_relevant(root), debounce=debounce_ms, stop_event=stop_event,
                               raise_interrupt=False, yield_on_timeout=True, rust_timeout=200)
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


