"""What the last builds did, kept per workspace for `wasmelt explain`: each
action's status and key material, and the material of its previous run."""

from __future__ import annotations

import json
from pathlib import Path

from .actions import digest_bytes
from .executor import BuildReport
from .store import _atomic_write
from .workspace import Workspace


def records_dir(ws: Workspace) -> Path:
    return ws.cache_dir / "records" / digest_bytes(str(ws.root).encode())[:16]


def save_build(ws: Workspace, report: BuildReport) -> None:
    root = records_dir(ws)
    history_path = root / "history.json"
    try:
        history = json.loads(history_path.read_bytes())
    except (FileNotFoundError, ValueError):
        history = {}
    last = []
    for action_id, rec in sorted(report.records.items()):
        entry = {"id": action_id, "owner": str(rec.action.owner), "mnemonic": rec.action.mnemonic,
                 "status": rec.status, "key": rec.key, "duration": round(rec.duration, 4), "error": rec.error}
        last.append(entry)
        if rec.material is not None:
            h = history.get(action_id, {})
            if h.get("current", {}).get("key") != rec.key:
                if "current" in h:
                    h["previous"] = h["current"]
                h["current"] = {"key": rec.key, "material": rec.material}
            history[action_id] = h
    _atomic_write(root / "last_build.json", json.dumps({"actions": last}, indent=1, sort_keys=True).encode())
    _atomic_write(history_path, json.dumps(history, sort_keys=True).encode())


def load_last_build(ws: Workspace) -> list[dict]:
    try:
        return json.loads((records_dir(ws) / "last_build.json").read_bytes())["actions"]
    except (FileNotFoundError, ValueError, KeyError):
        return []


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
