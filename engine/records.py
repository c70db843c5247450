"""What the last builds did, kept per workspace for `wasmelt explain`: each
action's status and key material, and the material of its previous run."""

from __future__ import annotations

import json
from pathlib import Path

from .actions import digest_bytes
from .executor import BuildReport
from .store import _atomic_write
from .workspace import Workspace, records_dir  # noqa: F401  (records_dir: imported from here too)




# The history is a log, one JSON line per action whose key changed, so a
# build that re-ran three actions appends three lines instead of rewriting
# every action's key material; it is compacted when it grows large.
HISTORY = "history.jsonl"
COMPACT_BYTES = 64 << 20


def _entry(action_id: str, rec, status: str | None = None) -> dict:
    if status is None:
        return {"id": action_id, "owner": str(rec.action.owner), "mnemonic": rec.action.mnemonic,
                "status": rec.status, "key": rec.key, "duration": round(rec.duration, 4), "error": rec.error}
    return {"id": action_id, "owner": str(rec.action.owner), "mnemonic": rec.action.mnemonic,
            "status": status, "key": rec.key, "duration": 0.0, "error": None}


class LastBuild:
    """The records of a long-lived process's builds kept encoded (the server's
    incremental path): a build that re-examined a few actions re-encodes those
    entries and the ones that ran last time, and appends their history lines.
    Writes what save_build writes, byte for byte."""

    def __init__(self, ws: Workspace, records: dict):
        self.ws = ws
        self.encoded = {i: json.dumps(_entry(i, r, "cached" if r.status == "executed" else None), sort_keys=True)
                        for i, r in sorted(records.items())}
        self.keys = {i: r.key for i, r in records.items()}
        self.shown: set[str] = set()  # entries last written with this build's own status

    def save(self, records: dict, ran: dict) -> None:
        """`records`: every action's latest record; `ran`: the ones this build re-examined."""
        for i in self.shown - set(ran):
            rec = records[i]
            self.encoded[i] = json.dumps(_entry(i, rec, "cached" if rec.status == "executed" else None), sort_keys=True)
        lines = []
        for i, rec in ran.items():
            self.encoded[i] = json.dumps(_entry(i, rec), sort_keys=True)
            if rec.material is not None and self.keys.get(i) != rec.key:
                lines.append(json.dumps({"id": i, "key": rec.key, "material": rec.material}, sort_keys=True))
            self.keys[i] = rec.key
        self.shown = set(ran)
        root = records_dir(self.ws)
        (root / UP_TO_DATE_MARK).unlink(missing_ok=True)
        _atomic_write(root / "last_build.json", ('{"actions": [' + ", ".join(self.encoded.values()) + "]}").encode())
        _append_history(self.ws, lines)


def save_build(ws: Workspace, report: BuildReport) -> None:
    root = records_dir(ws)
    last = [_entry(action_id, rec) for action_id, rec in sorted(report.records.items())]
    last_path = root / "last_build.json"
    (root / UP_TO_DATE_MARK).unlink(missing_ok=True)
    try:
        previous = json.loads(last_path.read_bytes())["actions"]
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        previous = None
    if previous == last:
        return  # the same build again (a null build): nothing new to record
    # Only actions whose key differs from the last build's enter the history
    # (replaying it skips a line whose key is already the current one).
    keys_before = {e.get("id"): e.get("key") for e in previous or ()}
    lines = [json.dumps({"id": a, "key": rec.key, "material": rec.material}, sort_keys=True)
             for a, rec in sorted(report.records.items())
             if rec.material is not None and keys_before.get(a) != rec.key]
    _atomic_write(last_path, json.dumps({"actions": last}, sort_keys=True).encode())
    _append_history(ws, lines)


def _append_history(ws: Workspace, lines: list[str]) -> None:
    root = records_dir(ws)
    history_path = root / HISTORY
    if lines:
        root.mkdir(parents=True, exist_ok=True)
        with open(history_path, "a", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        if history_path.stat().st_size > COMPACT_BYTES:
            history = load_history(ws)
            compact = [json.dumps({"id": a, **h[k]}, sort_keys=True)
                       for a, h in sorted(history.items()) for k in ("previous", "current") if k in h]
            _atomic_write(history_path, ("\n".join(compact) + "\n").encode())


# Left by a build that found everything up to date without running the
# executor: the last build's actions were all reused.
UP_TO_DATE_MARK = "last_build_up_to_date"


def load_last_build(ws: Workspace) -> list[dict]:
    root = records_dir(ws)
    try:
        actions = json.loads((root / "last_build.json").read_bytes())["actions"]
    except (FileNotFoundError, ValueError, KeyError):
        return []
    if (root / UP_TO_DATE_MARK).exists():
        for entry in actions:
            entry["status"], entry["error"], entry["duration"] = "cached", None, 0.0
    return actions


def load_history(ws: Workspace) -> dict:
    """{action id: {"current": {key, material}, "previous": {...}}}"""
    history: dict[str, dict] = {}
    try:
        f = open(records_dir(ws) / HISTORY, encoding="utf-8")
    except FileNotFoundError:
        return history
    with f:
        for line in f:
            try:
                entry = json.loads(line)
                action_id, key, material = entry["id"], entry["key"], entry["material"]
            except (ValueError, KeyError, TypeError):
                continue  # a line cut short by a killed build
            h = history.setdefault(action_id, {})
            if h.get("current", {}).get("key") != key:
                if "current" in h:
                    h["previous"] = h["current"]
                h["current"] = {"key": key, "material": material}
    return history


def explain_change(previous: dict | None, current: dict) -> list[str]:
    """Human-readable differences between two key materials."""
    if previous is None:
        return ["first build of this action (no earlier run recorded)"]
    lines = []
    before, after = previous["material"], current["material"]
    for path in sorted(set(before["inputs"]) | set(after["inputs"])):
        a, b = before["inputs"].get(path), after["inputs"].get(path)
        if a != b:
            lines.append(f"input `{path}` " + ("added" if a is None else "removed" if b is None else f"changed ({a[:12]} -> {b[:12]})"))
    if before["argv"] != after["argv"]:
        for i, (x, y) in enumerate(zip(before["argv"], after["argv"])):
            if x != y:
                lines.append(f"argument {i} changed: `{x}` -> `{y}`")
        if len(before["argv"]) != len(after["argv"]):
            lines.append(f"command line length changed ({len(before['argv'])} -> {len(after['argv'])} arguments)")
    for name in sorted(set(before["tools"]) | set(after["tools"])):
        a, b = before["tools"].get(name), after["tools"].get(name)
        if a != b:
            lines.append(f"tool `{name}` changed: " + (f"{a[0]} ({a[1][:12]}) -> {b[0]} ({b[1][:12]})" if a and b else "added" if b else "removed"))
    if before["env"] != after["env"]:
        lines.append(f"environment changed: {before['env']} -> {after['env']}")
    if before["outputs"] != after["outputs"]:
        lines.append("declared outputs changed")
    return lines or ["key unchanged; the cached result was missing or damaged"]
