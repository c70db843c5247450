"""The size picture in process: the squarified layout (areas proportional to
bytes, inside the box, no overlap), budget lines at their byte position on a
scale shared by the targets, deltas outlined, names escaped."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given, settings, strategies as st

from wasmelt.engine import sizes
from wasmelt.size_map import GREW, OVER, PANEL, picture, render_html, render_svg
from wasmelt.treemap import Rect, squarify

SVG = "{http://www.w3.org/2000/svg}"


def _check_tiling(values: list[float], box: Rect, rects: list[Rect]) -> None:
    total = sum(values)
    eps = 1e-6 * max(box.w, box.h, 1)
    for v, r in zip(values, rects):
        assert r.area == pytest.approx(box.area * v / total, rel=1e-6, abs=1e-6)
        if v:
            assert r.x >= box.x - eps and r.y >= box.y - eps
            assert r.x + r.w <= box.x + box.w + eps and r.y + r.h <= box.y + box.h + eps
    for a, b in itertools.combinations([r for v, r in zip(values, rects) if v], 2):
        overlap_w = min(a.x + a.w, b.x + b.w) - max(a.x, b.x)
        overlap_h = min(a.y + a.h, b.y + b.h) - max(a.y, b.y)
        assert overlap_w <= eps or overlap_h <= eps, (a, b)


def test_squarify_areas_are_proportional_inside_and_disjoint():
    box = Rect(10, 20, 300, 200)
    values = [204, 170, 58, 60, 2, 1]
    rects = squarify(values, box)
    _check_tiling(values, box, rects)
    assert sum(r.area for r in rects) == pytest.approx(box.area)
    # squarified: the big pieces are not slivers
    assert all(max(r.w / r.h, r.h / r.w) < 3 for v, r in zip(values, rects) if v >= 58)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=100_000), min_size=1, max_size=25).filter(any),
       st.floats(min_value=5, max_value=2000), st.floats(min_value=5, max_value=2000))
def test_squarify_tiles_any_sizes(values, w, h):
    box = Rect(3, 4, w, h)
    _check_tiling(values, box, squarify(values, box))


def test_squarify_zero_and_empty():
    assert squarify([], Rect(0, 0, 10, 10)) == []
    rects = squarify([0, 5, 0], Rect(0, 0, 10, 10))
    assert rects[0].area == 0 and rects[2].area == 0 and rects[1] == Rect(0, 0, 10, 10)


def _table(text=434, budget=1024, rodata=60, bss=2273, bss_budget=4096, comp="app", fn="tick", ram=None):
    groups = [
        {"name": "sections", "rows": [
            {"name": ".text", "bytes": text, "budget": budget, "budget_attr": "max_text_bytes", "detail": ""},
            {"name": ".rodata", "bytes": rodata, "budget": None, "detail": ""},
            {"name": ".data", "bytes": 0, "budget": None, "detail": ""},
            {"name": ".bss", "bytes": bss, "budget": bss_budget, "budget_attr": "max_bss_bytes", "detail": ""}]},
        {"name": "functions", "rows": [
            {"name": fn, "bytes": text - 60, "budget": None, "detail": "", "section": ".text", "component": comp,
             "parts": [{"name": f"{comp}:{fn}", "component": comp, "estimated_bytes": (text - 60) / 2, "inlined": False},
                       {"name": "kernel:log", "component": "kernel", "estimated_bytes": (text - 60) / 2,
                        "inlined": True}]},
            {"name": "wasmelt_init", "bytes": 60, "budget": None, "detail": "", "section": ".text",
             "component": "(runtime)"}]},
        {"name": "components", "rows": [{"name": comp, "bytes": text - 60, "budget": None, "detail": "symbols"},
                                        {"name": "(runtime)", "bytes": 60, "budget": None, "detail": ""}]},
        {"name": "objects", "rows": [{"name": "wasmelt_data0", "bytes": rodata, "budget": None, "detail": "",
                                      "section": ".rodata"}]},
        {"name": "ram", "rows": ram or [
            {"name": "shadow stack", "bytes": 2048, "budget": None, "section": ".bss", "detail": "linear memory [0, 2048)"},
            {"name": comp, "bytes": bss - 2048, "budget": None, "section": ".bss", "component": comp, "detail": ""}]},
    ]
    return {"version": 1, "title": "cortex-m4", "notes": [], "groups": groups}


def _results(*tables, previous=None):
    return [(f"//t:{i}", t, sizes.rows(t, previous), previous is not None) for i, t in enumerate(tables)]


def test_treemap_and_bars_are_proportional_and_inside_the_panel():
    _, (panel,) = picture(_results(_table()))
    box = panel.treemap
    top = [(n, r) for n, r in panel.flash if n.name in ("app", "(runtime)", ".rodata")]
    assert {n.name for n, _ in top} == {".rodata", "(runtime)", "app"}
    area = sum(r.area for _, r in top)
    for n, r in top:
        assert r.area / area == pytest.approx(n.bytes / (434 + 60), rel=1e-6)
        assert box.x <= r.x and r.x + r.w <= box.x + box.w + 1e-6 and box.y <= r.y and r.y + r.h <= box.y + box.h + 1e-6
    app = next(r for n, r in top if n.name == "app")
    tick = next(r for n, r in panel.flash if n.name == "tick")
    log = next((n, r) for n, r in panel.flash if n.name == "kernel:log")
    assert log[0].estimated and app.x <= tick.x and tick.x + tick.w <= app.x + app.w + 1e-6
    widths = {n.name: r.w for n, r in panel.ram}
    assert widths["shadow stack"] / widths["app"] == pytest.approx(2048 / 225)


def test_budget_lines_sit_at_their_bytes_on_one_scale_for_all_targets():
    svg, (small, big) = picture(_results(_table(), _table(text=900, budget=2048, bss_budget=8192)))
    # the larger budget sets the scale: 2048 B of .text fill the panel, 1024 B half of it
    assert big.limits["max_text_bytes"] - MARGIN_X(1) == pytest.approx(PANEL)
    assert small.limits["max_text_bytes"] - MARGIN_X(0) == pytest.approx(PANEL / 2)
    assert small.limits["max_bss_bytes"] - MARGIN_X(0) == pytest.approx(PANEL / 2)
    # the bars share the scale too: the same bytes are the same width in both panels
    a = next(r for n, r in small.ram if n.name == "shadow stack")
    b = next(r for n, r in big.ram if n.name == "shadow stack")
    assert a.w == pytest.approx(b.w)
    # and the treemaps: square pixels per byte are the same
    assert small.treemap.area / (434 + 60) == pytest.approx(big.treemap.area / (900 + 60))
    lines = [l for l in ET.fromstring(svg).iter(f"{SVG}line") if l.get("class") == "budget"]
    assert len(lines) == 4
    assert any(abs(float(l.get("x1")) - small.limits["max_text_bytes"]) < 0.01 for l in lines)
    labels = [t.text for t in ET.fromstring(svg).iter(f"{SVG}text") if t.get("class") == "budget-label"]
    assert "max_text_bytes 1024 B" in labels and "max_text_bytes 2048 B" in labels


def MARGIN_X(i):
    from wasmelt.size_map import GAP, MARGIN
    return MARGIN + i * (PANEL + GAP)


def test_over_budget_is_red_and_says_so():
    svg = render_svg(_results(_table(text=1100)))
    root = ET.fromstring(svg)
    line = next(l for l in root.iter(f"{SVG}line") if l.get("class") == "budget")
    assert line.get("stroke") == OVER and "OVER BUDGET" in line.find(f"{SVG}title").text
    assert "max_text_bytes 1024 B OVER" in [t.text for t in root.iter(f"{SVG}text")]


def test_delta_to_the_previous_build_is_outlined():
    before, after = _table(), _table(text=470)
    svg, (panel,) = picture(_results(after, previous=before))
    root = ET.fromstring(svg)
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "delta vs previous build: .text +36 B" in texts
    outlined = [r for r in root.iter(f"{SVG}rect") if r.get("stroke") == GREW]
    assert outlined  # tick and app grew
    tick = next(r for n, r in panel.flash if n.name == "tick")
    assert any(abs(float(r.get("x")) - (tick.x + 1.25)) < 0.01 and abs(float(r.get("y")) - (tick.y + 1.25)) < 0.01
               for r in outlined)
    unchanged = render_svg(_results(before, previous=before))
    assert f'stroke="{GREW}"' not in unchanged


def test_names_are_escaped_in_svg_and_html():
    evil = '<script>alert("x")</script>&'
    results = _results(_table(comp=evil, fn="f<1>"))
    svg = render_svg(results)
    root = ET.fromstring(svg)  # well-formed
    assert "<script" not in svg
    assert any(evil in (t.text or "") for t in root.iter(f"{SVG}title"))
    html = render_html(results)
    assert "<script" not in html and "&lt;script&gt;" in html


def test_more_targets_than_fit_a_row_wrap_below():
    from wasmelt.size_map import GAP, PER_ROW

    tables = [_table() for _ in range(PER_ROW + 1)]
    svg, panels = picture(_results(*tables))
    first, wrapped = panels[0].treemap, panels[PER_ROW].treemap
    assert wrapped.x == first.x and wrapped.y >= first.y + panels[0].height - 1
    root = ET.fromstring(svg)
    assert float(root.get("width")) == pytest.approx(2 * 16 + PER_ROW * PANEL + (PER_ROW - 1) * GAP)
    assert [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "target"] == [f"//t:{i}" for i in range(4)]


def test_a_table_with_sections_only_still_draws_bars_and_budgets():
    """Another toolchain's table: no functions, no ram group, an unbounded stack."""
    table = {"version": 1, "groups": [
        {"name": "sections", "rows": [
            {"name": ".text", "bytes": 300, "budget": 256, "detail": ""},
            {"name": ".bss", "bytes": 64, "budget": None, "detail": ""}]},
        {"name": "objects", "rows": [{"name": "buf", "bytes": 64, "budget": None, "detail": "", "section": ".bss"}]},
        {"name": "stack", "rows": [{"name": "main (worst case)", "bytes": None, "budget": 512, "detail": "recursion"}]}]}
    svg, (panel,) = picture(_results(table))
    root = ET.fromstring(svg)
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert [n.name for n, _ in panel.flash] == [".text"] and [n.name for n, _ in panel.ram] == ["buf"]
    assert "budget of .text 256 B OVER" in texts  # no budget_attr: named by its row
    assert "main unbounded" in texts
    # the treemap covers the sections even where no symbol does
    table["groups"][0]["rows"].append({"name": ".rodata", "bytes": 100, "budget": None, "detail": ""})
    table["groups"][1]["rows"].append({"name": "k", "bytes": 40, "budget": None, "detail": "", "section": ".rodata"})
    _, (panel,) = picture(_results(table))
    drawn = {n.name: n.bytes for n, _ in panel.flash}
    assert drawn == {".text": 300, ".rodata": 100, "k": 40, "(no symbol)": 60}


def test_many_ram_objects_list_the_biggest_and_sum_the_rest():
    from wasmelt.size_map import RAM_LINES

    ram = [{"name": f"g{i}", "bytes": 10 + i, "budget": None, "section": ".bss", "detail": ""} for i in range(30)]
    svg, (panel,) = picture(_results(_table(bss=sum(r["bytes"] for r in ram), ram=ram)))
    assert len(panel.ram) == 30  # the bar draws them all
    lines = [t.text for t in ET.fromstring(svg).iter(f"{SVG}text") if t.get("class") == "ram"]
    assert len(lines) == RAM_LINES and lines[0].startswith("g21 ")  # the biggest, in their order
    rest = sum(10 + i for i in range(30 - RAM_LINES + 1))
    assert lines[-1] == f"... {30 - RAM_LINES + 1} more, {rest} B (hover the bar)"
