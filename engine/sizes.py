"""Size tables for `wasmelt size`: a rule names a JSON artifact in a
SizeTableInfo provider; the engine remembers it per target and renders it.

The engine knows only the generic shape: groups of rows with a name, bytes,
an optional budget and a detail (schema version 1, see docs/size.md). Every
build that produces a table keeps the one before it when the bytes changed,
so `wasmelt size` shows the delta to the previous different build.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from .actions import digest_bytes
from .analysis import SizeTableInfo
from .errors import ActionError
from .labels import Label
from .store import Store, _atomic_write
from .workspace import Workspace, records_dir

COLUMNS = ("group", "name", "bytes", "budget", "used", "previous", "delta", "detail")


def _history_path(ws: Workspace, label: Label) -> Path:
    return records_dir(ws) / "sizes" / f"{digest_bytes(str(label).encode())[:16]}.json"


def parse_table(data: bytes, where: str) -> dict:
    """A size table from its JSON bytes, checked for the generic shape."""
    try:
        table = json.loads(data)
        for group in table["groups"]:
            if not isinstance(group["name"], str):
                raise TypeError(group["name"])
            for row in group["rows"]:
                if not isinstance(row["name"], str) or not (row["bytes"] is None or isinstance(row["bytes"], int)):
                    raise TypeError(row)
    except (ValueError, KeyError, TypeError) as e:
        raise ActionError(f"{where}: not a size table ({type(e).__name__}: {e})") from None
    return table


def load_history(ws: Workspace, label: Label) -> dict:
    try:
        return json.loads(_history_path(ws, label).read_bytes())
    except (FileNotFoundError, ValueError):
        return {}


def _sizes(table: dict) -> list:
    return [(g["name"], r["name"], r.get("bytes"), r.get("budget")) for g in table.get("groups", []) for r in g["rows"]]


def remember(ws: Workspace, label: Label, table: dict) -> None:
    """Make `table` the current one; the current one becomes the previous
    one when their sizes differ (a rebuild of the same bytes, or a new
    wording of the details, keeps the previous one)."""
    history = load_history(ws, label)
    current = history.get("current")
    if current == table:
        return
    previous = history.get("previous") if current and _sizes(current) == _sizes(table) else current
    history = {"label": str(label), "current": table, "previous": previous}
    _atomic_write(_history_path(ws, label), json.dumps(history, sort_keys=True).encode())


def remember_built(ws: Workspace, infos: dict, digests: dict[str, str], store: Store) -> None:
    """After a build: remember every size table it produced or reused."""
    for label, info in infos.items():
        provider = info.get(SizeTableInfo)
        artifact = provider.table if provider is not None else None
        if artifact is None or artifact.path not in digests:
            continue
        digest = digests[artifact.path]
        data = store.get_bytes(digest) if digest else None
        if data is None:  # built remotely: the materialised copy
            try:
                data = (ws.root / artifact.path).read_bytes()
            except OSError:
                continue
        try:
            remember(ws, label, parse_table(data, artifact.path))
        except ActionError:
            continue  # reported by `wasmelt size`, never a reason to fail a build


def rows(table: dict, previous: dict | None) -> list[dict]:
    """Flat rows with the delta to `previous` (None when there is none)."""
    before = {}
    for group in (previous or {}).get("groups", []):
        for row in group["rows"]:
            before[(group["name"], row["name"])] = row.get("bytes")
    out = []
    for group in table["groups"]:
        for row in group["rows"]:
            size, budget = row.get("bytes"), row.get("budget")
            key = (group["name"], row["name"])
            old = before.get(key)
            delta = size - old if isinstance(size, int) and isinstance(old, int) else None
            out.append({"group": group["name"], "name": row["name"], "bytes": size, "budget": budget,
                        "used": round(100 * size / budget, 1) if size is not None and budget else None,
                        "previous": old, "delta": delta, "new": previous is not None and key not in before,
                        "over": budget is not None and (size is None or size > budget),
                        "detail": row.get("detail", "")})
    return out


def render_text(label: str, table: dict, flat: list[dict], has_previous: bool) -> str:
    width = max([len(r["name"]) for r in flat] + [8])
    head = f"{label}" + (f"  ({table['title']})" if table.get("title") else "")
    lines = [head]
    group = None
    for r in flat:
        if r["group"] != group:
            group = r["group"]
            lines.append("")
            lines.append(f"{group:<{width + 2}} {'bytes':>8} {'budget':>8} {'used':>6} {'delta':>7}  detail")
        size = "unbounded" if r["bytes"] is None else str(r["bytes"])
        budget = "-" if r["budget"] is None else str(r["budget"])
        used = "" if r["used"] is None else f"{r['used']:.0f}%"
        delta = "new" if r["new"] else "" if not r["delta"] else f"{r['delta']:+d}"
        flag = "  OVER BUDGET" if r["over"] else ""
        lines.append(f"  {r['name']:<{width}} {size:>8} {budget:>8} {used:>6} {delta:>7}  {r['detail']}{flag}")
    lines.append("")
    lines.extend(f"note: {n}" for n in table.get("notes", []))
    lines.append("delta: against the previous build whose sizes differed" if has_previous
                 else "delta: none yet (no earlier build with different sizes recorded)")
    return "\n".join(lines) + "\n"


def render_side_by_side(results: list[tuple[str, dict, list[dict], bool]]) -> str:
    """The rows every shown table has (sections, stack, the functions and
    components they share), one column per target: e.g. the same core built
    for two CPU families. Empty for fewer than two tables."""
    if len(results) < 2:
        return ""
    keyed = [{(r["group"], r["name"]): r["bytes"] for r in flat} for _, _, flat, _ in results]
    common = [(r["group"], r["name"]) for r in results[0][2] if all((r["group"], r["name"]) in k for k in keyed)]
    heads = [[label, table.get("title", "").split(",")[0]] for label, table, _, _ in results]
    col = max([len(h) for pair in heads for h in pair] + [9])
    width = max([len(name) for _, name in common] + [8])
    lines = ["side by side: the rows every table has", ""]
    for i in range(2):
        lines.append(f"  {'':<{width}} " + " ".join(f"{h[i]:>{col}}" for h in heads))
    group = None
    for key in common:
        if key[0] != group:
            group = key[0]
            lines.append(f"{group}")
        cells = ["unbounded" if k[key] is None else str(k[key]) for k in keyed]
        lines.append(f"  {key[1]:<{width}} " + " ".join(f"{c:>{col}}" for c in cells))
    return "\n".join(lines) + "\n"


def render_json(results: list[tuple[str, dict, list[dict], bool]]) -> str:
    body = [{"target": label, "title": table.get("title", ""), "notes": table.get("notes", []),
             "has_previous": has_previous, "rows": flat} for label, table, flat, has_previous in results]
    return json.dumps(body if len(body) != 1 else body[0], indent=2) + "\n"


def render_csv(results: list[tuple[str, dict, list[dict], bool]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("target", *COLUMNS))
    for label, _, flat, _ in results:
        for r in flat:
            writer.writerow((label, *("" if r[c] is None else r[c] for c in COLUMNS)))
    return out.getvalue()
