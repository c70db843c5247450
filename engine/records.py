"""What the last builds did, kept per workspace for `wasmelt explain`: each
action's status and key material, and the material of its previous run."""

from __future__ import annotations

import json
from pathlib import Path

from .actions import digest_bytes
from .executor import BuildReport
from .store import _atomic_write
from .workspace import Workspace, records_dir  # noqa: F401  (records_dir: imported from here too)




def save_build(ws: Workspace, report: BuildReport) -> None:
    root = records_dir(ws)
    history_path = root / "history.json"
    last = []
    for action_id, rec in sorted(report.records.items()):
        last.append({"id": action_id, "owner": str(rec.action.owner), "mnemonic": rec.action.mnemonic,
                     "status": rec.status, "key": rec.key, "duration": round(rec.duration, 4), "error": rec.error})
    last_path = root / "last_build.json"
    (root / UP_TO_DATE_MARK).unlink(missing_ok=True)
    try:
        previous = json.loads(last_path.read_bytes())["actions"]
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        previous = None
    if previous == last:
        return  # the same build again (a null build): nothing new to record
    # The history changes only for actions whose key differs from the one it holds;
    # when every key is the one the last build recorded, it is left as it is.
    keys_before = {e.get("id"): e.get("key") for e in previous or ()}
    if all(keys_before.get(a) == rec.key for a, rec in report.records.items() if rec.material is not None):
        _atomic_write(last_path, json.dumps({"actions": last}, sort_keys=True).encode())
        return
    try:
        history = json.loads(history_path.read_bytes())
    except (FileNotFoundError, ValueError):
        history = {}
    for action_id, rec in sorted(report.records.items()):
        if rec.material is not None:
            h = history.get(action_id, {})
            if h.get("current", {}).get("key") != rec.key:
                if "current" in h:
                    h["previous"] = h["current"]
                h["current"] = {"key": rec.key, "material": rec.material}
            history[action_id] = h
    _atomic_write(last_path, json.dumps({"actions": last}, sort_keys=True).encode())
    _atomic_write(history_path, json.dumps(history, sort_keys=True).encode())


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
    try:
        return json.loads((records_dir(ws) / "history.json").read_bytes())
    except (FileNotFoundError, ValueError):
        return {}


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
