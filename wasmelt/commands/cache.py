"""`wasmelt cache verify|gc`: check every cached blob and entry, or evict the
least recently used ones down to a size."""

from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    ca = sub.add_parser("cache", help="check or shrink the local cache",
                        epilog="examples:\n  wasmelt cache verify\n  wasmelt cache gc              down to the workspace's "
                               "cache_max_size (5G unless set)\n  wasmelt cache gc --max-size 2G",
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    ca.add_argument("action", choices=["verify", "gc"])
    ca.add_argument("--max-size", "--max_size", dest="max_size", default=None,
                    help="for gc: evict least-recently-used entries down to this size (e.g. 500M, 2G; default: "
                         "the workspace's cache_max_size, 5G unless set); zig's cache counts too")


def max_size(args) -> int:
    """--max-size, else the workspace's `cache_max_size` (default engine.settings.DEFAULT_CACHE_MAX_SIZE)."""
    from wasmelt.engine.errors import ConfigError
    from wasmelt.engine.settings import DEFAULT_CACHE_MAX_SIZE, parse_size

    if args.max_size is None:
        return parse_size(args.ws.settings.get("cache_max_size", DEFAULT_CACHE_MAX_SIZE), "cache_max_size")
    try:
        return parse_size(args.max_size, "--max-size")
    except ValueError as e:
        raise ConfigError(f"{e}; e.g. --max-size 500M or 2G") from None


def run(args) -> int:
    from wasmelt.engine.locks import cache_lock
    from wasmelt.engine.store import Store

    ws = args.ws
    store = Store(ws.cache_dir)
    with cache_lock(ws.cache_dir, exclusive=True):
        if args.action == "verify":
            counts = store.verify()
            print(f"cache verify: {counts['blobs']} blobs ({counts['bad_blobs']} damaged, removed), "
                  f"{counts['actions']} action entries ({counts['bad_actions']} damaged, "
                  f"{counts['incomplete_actions']} missing blobs; removed)")
            return 1 if counts["bad_blobs"] or counts["bad_actions"] else 0
        from wasmelt.engine.cache_limits import SIZE_STAMP, tool_caches

        counts = store.gc(max_size(args), tool_caches(ws.cache_dir))
        (ws.cache_dir / SIZE_STAMP).unlink(missing_ok=True)  # the next build measures again
        print(f"cache gc: evicted {counts['evicted_actions']} action entries, removed {counts['removed_blobs']} blobs; "
              f"{counts['kept_actions']} entries, {counts['bytes']} bytes kept")
    return 0
