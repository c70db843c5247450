"""`wasmelt explain`: why the last build executed or reused each of a target's actions."""

from __future__ import annotations


def add_parser(sub) -> None:
    e = sub.add_parser("explain", help="why the last build executed or reused a target's actions",
                       epilog="example: wasmelt explain //examples/app:fused")
    e.add_argument("target")


def run(args) -> int:
    from wasmelt.engine.errors import ConfigError
    from wasmelt.engine.executor import CACHED, EXECUTED
    from wasmelt.engine.labels import parse_label
    from wasmelt.engine.records import explain_change, load_history, load_last_build

    ws = args.ws
    label = str(parse_label(args.target if args.target.startswith(("//", ":")) else ":" + args.target, args.package))
    last = [a for a in load_last_build(ws) if a["owner"] == label]
    if not last:
        raise ConfigError(f"the last build did not include `{label}`; build it first")
    history = load_history(ws)
    for entry in last:
        print(f"{entry['mnemonic']} {label}: {entry['status']}" + (f" (key {entry['key'][:16]})" if entry["key"] else ""))
        if entry["status"] == EXECUTED:
            h = history.get(entry["id"], {})
            for line in explain_change(h.get("previous"), h["current"]) if "current" in h else []:
                print(f"  {line}")
        elif entry["status"] == CACHED:
            print("  every input, argument and tool matched an earlier run: the result came from the cache")
        elif entry.get("error"):
            print("  " + entry["error"].splitlines()[0])
    return 0
