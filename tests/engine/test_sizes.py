"""The engine's side of `wasmelt size` on generic tables: what is remembered
per target, the deltas, and the three renderings."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from wasmelt.engine import sizes
from wasmelt.engine.labels import Label
from wasmelt.engine.workspace import Workspace


def _table(code: int, detail: str = "") -> dict:
    return {"version": 1, "title": "t", "notes": [],
            "groups": [{"name": "parts", "rows": [{"name": "a", "bytes": code, "budget": 100, "detail": detail},
                                                  {"name": "b", "bytes": None, "budget": 8, "detail": ""}]}]}


def _ws(tmp_path: Path) -> Workspace:
    return Workspace(root=tmp_path / "ws", settings={}, cache_dir=tmp_path / "cache")


def test_previous_is_the_last_table_with_different_sizes(tmp_path):
    ws, label = _ws(tmp_path), Label("p", "t")
    sizes.remember(ws, label, _table(10))
    assert sizes.load_history(ws, label)["previous"] is None
    sizes.remember(ws, label, _table(10))  # the same bytes again
    sizes.remember(ws, label, _table(10, "reworded"))  # only the detail changed
    assert sizes.load_history(ws, label)["previous"] is None
    sizes.remember(ws, label, _table(14))
    sizes.remember(ws, label, _table(14))
    history = sizes.load_history(ws, label)
    assert history["previous"]["groups"][0]["rows"][0]["bytes"] == 10
    rows = sizes.rows(history["current"], history["previous"])
    assert rows[0]["delta"] == 4 and rows[0]["previous"] == 10 and rows[0]["used"] == 14.0
    assert rows[1]["bytes"] is None and rows[1]["over"]  # unbounded is over any budget
    assert sizes.load_history(ws, Label("p", "other")) == {}


def test_renderings(tmp_path):
    flat = sizes.rows(_table(120), _table(100))
    text = sizes.render_text("//p:t", _table(120), flat, True)
    line = next(l for l in text.splitlines() if l.startswith("  a "))
    assert line.split()[:5] == ["a", "120", "100", "120%", "+20"] and "OVER BUDGET" in line
    assert "unbounded" in text
    doc = json.loads(sizes.render_json([("//p:t", _table(120), flat, True)]))
    assert doc["target"] == "//p:t" and doc["rows"][0]["delta"] == 20
    rows = list(csv.DictReader(io.StringIO(sizes.render_csv([("//p:t", _table(120), flat, True)]))))
    assert rows[0]["bytes"] == "120" and rows[0]["delta"] == "20" and rows[1]["bytes"] == ""


def test_a_malformed_table_is_reported_not_a_traceback():
    import pytest

    from wasmelt.engine.errors import ActionError

    for data in (b"not json", b'{"groups": [{"rows": [{"name": 3, "bytes": 1}]}]}', b"{}"):
        with pytest.raises(ActionError, match="not a size table"):
            sizes.parse_table(data, "x.json")
