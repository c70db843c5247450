"""`wasmelt clean`: delete wasmelt-out/ (and with --expunge the cache)."""

from __future__ import annotations

import argparse
import shutil


def add_parser(sub) -> None:
    c = sub.add_parser("clean", help="delete wasmelt-out/ (and with --expunge the cache)",
                       epilog="examples:\n  wasmelt clean\n  wasmelt clean --expunge   also forget every cached action",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    c.add_argument("--expunge", action="store_true",
                   help="also delete the cache: CAS, action cache, records, sandboxes, zig's cache, the lock files")


def _remove(path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def run(args) -> int:
    from wasmelt import report
    from wasmelt.engine.locks import workspace_lock
    from wasmelt.engine.store import OWNED

    ws = args.ws
    with workspace_lock(ws, report.note):
        shutil.rmtree(ws.output_dir, ignore_errors=True)
        if args.expunge:
            for child in OWNED:
                if child not in ("records", "lock"):
                    _remove(ws.cache_dir / child)
    if args.expunge:  # after the workspace lock, which lives in records/, is let go
        _remove(ws.cache_dir / "records")
        _remove(ws.cache_dir / "lock")
        try:
            ws.cache_dir.rmdir()  # gone, unless it holds something not wasmelt's
        except OSError:
            pass
    report.note(f"removed {ws.output_dir.name}/" + (f" and the cache in {ws.cache_dir}" if args.expunge else ""))
    return 0
