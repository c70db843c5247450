"""`wasmelt cache verify|gc`: check every cached blob and entry, or evict the
least recently used ones down to a size."""

from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    ca = sub.add_parser("cache", help="check or shrink the local cache",
                        epilog="examples:\n  wasmelt cache verify\n  wasmelt cache gc --max-size 2G",
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    ca.add_argument("action", choices=["verify", "gc"])
    ca.add_argument("--max-size", "--max_size", dest="max_size", default="1G",
                    help="for gc: evict least-recently-used entries down to this size (e.g. 500M, 2G)")


def parse_size(text: str) -> int:
    from wasmelt.engine.errors import ConfigError

    units = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    number, unit = text.strip().upper().rstrip("B"), ""
    if number and number[-1] in units:
        number, unit = number[:-1], number[-1]
    try:
        size = int(float(number) * units[unit])
    except (ValueError, OverflowError):  # not a number, or 1e400
        size = -1
    if size < 0:
        raise ConfigError(f"--max-size takes a size such as 500M or 2G, got `{text}`")
    return size


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
        counts = store.gc(parse_size(args.max_size))
        print(f"cache gc: evicted {counts['evicted_actions']} action entries, removed {counts['removed_blobs']} blobs; "
              f"{counts['kept_actions']} entries, {counts['bytes']} bytes kept")
    return 0
