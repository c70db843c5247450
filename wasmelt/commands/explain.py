"""`wasmelt explain`: why the last build executed or reused each of a target's
actions: the reason engine.rebuild gave when it decided, kept in the trace."""

from __future__ import annotations


def add_parser(sub) -> None:
    e = sub.add_parser("explain", help="why the last build executed or reused a target's actions",
                       epilog="example: wasmelt explain //examples/app:fused")
    e.add_argument("target")


def run(args) -> int:
    from wasmelt.engine.errors import ConfigError
    from wasmelt.engine.labels import parse_label
    from wasmelt.engine.rebuild import NOTHING_CHANGED, UNTOUCHED
    from wasmelt.engine.trace import RACY_WINDOW_NS, Trace
    from wasmelt.engine.workspace import records_dir

    label = str(parse_label(args.target if args.target.startswith(("//", ":")) else ":" + args.target, args.package))
    trace = Trace(records_dir(args.ws))
    ids = [i for i in trace.last_build if i in trace.actions and trace.actions[i]["owner"] == label]
    if not ids:
        raise ConfigError(f"the last build did not include `{label}`; build it first")
    decided = trace.build.get("decided")
    for entry, action_id in ((trace.actions[i], i) for i in ids):
        status, reason = entry["status"], entry["reason"]
        if trace.up_to_date:  # answered from the up-to-date record: every action reused
            status, reason = "cached", NOTHING_CHANGED
        elif decided is not None and action_id not in decided:  # reused unexamined: its record stands
            status, reason = "cached", UNTOUCHED
        print(f"{entry['mnemonic']} {label}: {status}" + (f" (key {entry['key'][:16]})" if entry["key"] else ""))
        lines = reason.split("; ") if reason else []
        if status == "failed" and entry.get("error"):
            lines.append(entry["error"].splitlines()[0])
        for line in lines or ["no reason recorded"]:
            print(f"  {line}")
    racy = trace.build.get("racy")
    if racy is not None:
        print(f"the next build decides action by action, not by a stat pass: `{racy}` was modified"
              f" within {RACY_WINDOW_NS // 10**9} s of this build, too recently for its stat to show a later edit")
    return 0
