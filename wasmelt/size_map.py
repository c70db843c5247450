"""The picture of `wasmelt size --format=svg|html`: a treemap of flash by
component and function, a bar of RAM, budgets as limits, deltas outlined.

Pure: size tables in (as engine.sizes reads them: label, table, flat rows with
deltas, whether a previous build exists), SVG or one self-contained HTML file
out. Several targets are drawn side by side on one byte scale.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from xml.sax.saxutils import escape

from .treemap import Rect, squarify

PANEL = 520          # width of one target's panel
MARGIN = 16
GAP = 32
PER_ROW = 3          # targets side by side; more wrap to the next row
RAM_LINES = 10       # RAM regions listed under the bar; the rest are summed
TREEMAP_MAX = 300    # height of the biggest flash treemap; the others share its bytes-per-pixel
BAR = 22
LINE = 16
CHAR = 0.6           # width of a monospace character, per unit of font size
FONT = "ui-monospace, 'DejaVu Sans Mono', Menlo, Consolas, monospace"
FLASH = (".text", ".rodata")
RAM = (".bss", ".data")
PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#edc948", "#76b7b2", "#ff9da7", "#9c755f",
           "#e15759", "#8cd17d", "#a0cbe8", "#ffbe7d")
FIXED = {"(runtime)": "#9aa0a6", "(unattributed)": "#6c757d", "shadow stack": "#8da0b6", ".rodata": "#d4b483"}
OTHER = "#c9ccd1"
GREW, SHRANK, OVER = "#d9480f", "#2b8a3e", "#c92a2a"


# -- what is drawn ------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    name: str
    bytes: float
    color: str
    title: str
    delta: int | None = None
    new: bool = False
    estimated: bool = False
    children: tuple["Node", ...] = ()
    row: dict | None = field(default=None, compare=False)


def _node(name: str, size: float, color: str, row: dict, where: str, children=(), prefix: str = "") -> Node:
    """A rectangle for `row`: its title says bytes, where, the delta and the detail."""
    title = f"{prefix}{name}: {_b(size)} {where}" + (f" ({_delta(row)})" if _changed(row) else "") + (
        f"; {row['detail']}" if row.get("detail") else "")
    return Node(name, size, color, title, row.get("delta"), row.get("new", False), children=tuple(children), row=row)


@dataclass(frozen=True)
class Target:
    label: str
    title: str
    rows: dict  # (group, name) -> the table's row merged with its flat row (delta, used, over)
    has_previous: bool

    def group(self, name: str) -> list[dict]:
        return [r for (g, _), r in self.rows.items() if g == name]

    def row(self, group: str, name: str) -> dict | None:
        return self.rows.get((group, name))


def targets(results) -> list[Target]:
    out = []
    for label, table, flat, has_previous in results:
        merged = {}
        extra = {(g["name"], r["name"]): r for g in table["groups"] for r in g["rows"]}
        for r in flat:
            key = (r["group"], r["name"])
            merged[key] = {**extra.get(key, {}), **r}
        out.append(Target(label, table.get("title", ""), merged, has_previous))
    return out


def _b(n) -> str:
    return "unbounded" if n is None else f"{n:.0f} B"


def _delta(row: dict) -> str:
    if row.get("new"):
        return "new"
    d = row.get("delta")
    return f"{d:+d} B" if d else ""


def _changed(row: dict) -> bool:
    return bool(row.get("new") or row.get("delta"))


def palette(ts: list[Target]) -> dict[str, str]:
    """One colour per component, the same in every panel."""
    names = sorted({r["component"] for t in ts for r in t.rows.values() if r.get("component")}
                   | {p["component"] for t in ts for r in t.group("functions") for p in r.get("parts", [])})
    colors, free = dict(FIXED), iter(PALETTE * (1 + len(names) // len(PALETTE)))
    for name in names:
        if name not in colors:
            colors[name] = next(free)
    return colors


def flash_tree(t: Target, colors: dict[str, str]) -> list[Node]:
    """Components -> functions -> what each holds (estimated), and .rodata."""
    by_component: dict[str, list[dict]] = {}
    for f in t.group("functions"):
        if f["bytes"]:
            by_component.setdefault(f.get("component") or "(unattributed)", []).append(f)
    out = []
    for comp, functions in by_component.items():
        color = colors.get(comp, OTHER)
        children = []
        for f in functions:
            parts = [Node(p["name"], p["estimated_bytes"], colors.get(p["component"], OTHER),
                          f"{p['name']}: ~{p['estimated_bytes']:.0f} B ("
                          + (f"inlined into {f['name']}" if p["inlined"] else f"the rest of {f['name']}")
                          + "; estimated from its wasm size)", estimated=True) for p in f.get("parts", [])]
            children.append(_node(f["name"], f["bytes"], color, f, "in .text", parts))
        out.append(_node(comp, sum(f["bytes"] for f in functions), color, t.row("components", comp) or {}, "in .text",
                         children, prefix="component "))
    out.sort(key=lambda n: (-n.bytes, n.name))
    rest = _total(t, [".text"]) - sum(n.bytes for n in out)
    if rest > 0:  # code no function symbol covers (or a table without functions)
        out.append(_node("(.text, no symbol)" if out else ".text", rest, OTHER, {}, "of code"))
    rodata = [o for o in t.group("objects") if o.get("section") == ".rodata" and o["bytes"]]
    objects = [_node(o["name"], o["bytes"], colors.get(o.get("component"), FIXED[".rodata"]), o, "in .rodata")
               for o in rodata]
    rest = _total(t, [".rodata"]) - sum(o["bytes"] for o in rodata)
    if rest > 0:
        objects.append(_node("(no symbol)", rest, FIXED[".rodata"], {}, "in .rodata"))
    if objects:
        out.append(_node(".rodata", sum(n.bytes for n in objects), FIXED[".rodata"],
                         t.row("sections", ".rodata") or {}, "in flash", objects))
    return out


def ram_segments(t: Target, colors: dict[str, str]) -> list[Node]:
    """.bss then .data, row by row of the table's ram group (or its objects)."""
    rows = t.group("ram") or [o for o in t.group("objects") if o.get("section") in RAM]
    return [_node(r["name"], r["bytes"], colors.get(r.get("component") or r["name"], OTHER), r, f"in {section}")
            for section in RAM for r in rows if r.get("section") == section and r["bytes"]]


def _total(t: Target, names) -> int:
    return sum((t.row("sections", n) or {}).get("bytes") or 0 for n in names)


def _budget(t: Target, name: str) -> dict | None:
    row = t.row("sections", name)
    return row if row and row.get("budget") is not None else None


# -- SVG ----------------------------------------------------------------------


class Svg:
    def __init__(self):
        self.parts: list[str] = []

    def add(self, text: str) -> None:
        self.parts.append(text)

    def text(self, x, y, s: str, size=12, weight="normal", anchor="start", color="#212529", cls="") -> None:
        c = f' class="{cls}"' if cls else ""
        self.add(f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" font-weight="{weight}" text-anchor="{anchor}" '
                 f'fill="{color}"{c}>{escape(s)}</text>')

    def rect(self, r: Rect, fill: str, title: str, stroke="#ffffff", width=1.0, cls="") -> None:
        c = f' class="{cls}"' if cls else ""
        self.add(f'<rect x="{r.x:.2f}" y="{r.y:.2f}" width="{max(r.w, 0):.2f}" height="{max(r.h, 0):.2f}" fill="{fill}" '
                 f'stroke="{stroke}" stroke-width="{width}"{c}><title>{escape(title)}</title></rect>')


def _fit(label: str, width: float, size: float) -> bool:
    return len(label) * size * CHAR + 6 <= width


def _outline(node: Node) -> tuple[str, float] | None:
    if node.new or (node.delta or 0) > 0:
        return GREW, 2.5
    if (node.delta or 0) < 0:
        return SHRANK, 2.5
    return None


def draw_treemap(svg: Svg, nodes: list[Node], box: Rect, depth: int = 0) -> list[tuple[Node, Rect]]:
    """Draw `nodes` into `box`; returns every (node, rect) drawn, for tests."""
    drawn = []
    for node, r in zip(nodes, squarify([n.bytes for n in nodes], box)):
        if r.w <= 0 or r.h <= 0:
            continue
        drawn.append((node, r))
        svg.rect(r, node.color, node.title, cls="est" if node.estimated else f"d{depth}")
        if node.estimated:
            svg.rect(r, "url(#estimated)", node.title, stroke="none", width=0)
        label = node.name + (" ~" if node.estimated else "")
        sub = (f"~{node.bytes:.0f} B" if node.estimated else _b(node.bytes)) + (
            f" {node.delta:+d}" if node.delta else " new" if node.new else "")
        has_room = node.children and r.w > 40 and r.h > 36
        if has_room:
            header = 15
            if _fit(f"{label} {sub}", r.w, 11):
                svg.text(r.x + 3, r.y + 11.5, f"{label} {sub}", 11, "bold")
            elif _fit(label, r.w, 11):
                svg.text(r.x + 3, r.y + 11.5, label, 11, "bold")
            inner = Rect(r.x + 2, r.y + header, r.w - 4, r.h - header - 2)
            drawn += draw_treemap(svg, node.children, inner, depth + 1)
        elif r.h >= 14:
            short = node.name.rpartition(":")[2] + (" ~" if node.estimated else "")
            shown = next(((t, f) for f in (10.5, 9) for t in (label, short) if _fit(t, r.w, f)), None)
            if shown:
                svg.text(r.x + 3, r.y + 11.5, shown[0], shown[1])
                if _fit(sub, r.w, shown[1]) and r.h >= 27:
                    svg.text(r.x + 3, r.y + 24, sub, shown[1], color="#343a40")
        mark = _outline(node)
        if mark:
            svg.add(f'<rect x="{r.x + 1.25:.2f}" y="{r.y + 1.25:.2f}" width="{max(r.w - 2.5, 0):.2f}" '
                    f'height="{max(r.h - 2.5, 0):.2f}" fill="none" stroke="{mark[0]}" stroke-width="{mark[1]}" '
                    f'pointer-events="none"/>')
    return drawn


def draw_bar(svg: Svg, nodes: list[Node], x: float, y: float, per_byte: float) -> list[tuple[Node, Rect]]:
    drawn, cx = [], x
    for n in nodes:
        r = Rect(cx, y, n.bytes * per_byte, BAR)
        svg.rect(r, n.color, n.title)
        if _fit(n.name, r.w, 10.5):
            svg.text(r.x + 3, y + 15, n.name, 10.5)
        mark = _outline(n)
        if mark:
            svg.add(f'<rect x="{r.x + 1.25:.2f}" y="{y + 1.25:.2f}" width="{max(r.w - 2.5, 0):.2f}" height="{BAR - 2.5}" '
                    f'fill="none" stroke="{mark[0]}" stroke-width="{mark[1]}" pointer-events="none"/>')
        drawn.append((n, r))
        cx += r.w
    return drawn


def draw_limit(svg: Svg, row: dict, x0: float, y: float, per_byte: float, height: float = BAR) -> float:
    """The budget of `row` as a line at its byte position from `x0`; returns that x."""
    x = x0 + row["budget"] * per_byte
    over = row.get("over")
    color = OVER if over else "#212529"
    name = row.get("budget_attr") or f"budget of {row['name']}"
    title = f"{name} = {_b(row['budget'])}: {row['name']} uses {_b(row['bytes'])}" + (
        f" ({row['used']:.0f}%)" if row.get("used") is not None else "") + (" OVER BUDGET" if over else "")
    svg.add(f'<line x1="{x:.2f}" y1="{y - 4:.2f}" x2="{x:.2f}" y2="{y + height + 4:.2f}" stroke="#ffffff" '
            f'stroke-width="5"/>')  # a halo: the line stays visible over any segment
    svg.add(f'<line x1="{x:.2f}" y1="{y - 4:.2f}" x2="{x:.2f}" y2="{y + height + 4:.2f}" stroke="{color}" '
            f'stroke-width="2" stroke-dasharray="4 2" class="budget"><title>{escape(title)}</title></line>')
    label = f"{name} {_b(row['budget'])}" + (" OVER" if over else "")
    anchor = "end" if x - x0 > PANEL / 2 else "start"
    svg.text(x + (-3 if anchor == "end" else 3), y + height + 15, label, 10.5, "bold", anchor, color, cls="budget-label")
    return x


@dataclass(frozen=True)
class Scale:
    flash_bar: float  # pixels per byte on the flash bar
    ram_bar: float
    treemap: float    # square pixels per byte


def common_scale(ts: list[Target]) -> Scale:
    flash = max([max(_total(t, FLASH), (_budget(t, ".text") or {}).get("budget") or 0) for t in ts] + [1])
    ram = max([max(_total(t, RAM), (_budget(t, ".bss") or {}).get("budget") or 0) for t in ts] + [1])
    used = max([_total(t, FLASH) for t in ts] + [1])
    return Scale(PANEL / flash, PANEL / ram, PANEL * TREEMAP_MAX / used)


@dataclass
class Panel:
    """Where one target's pieces landed (the tests read it)."""
    flash: list = field(default_factory=list)
    ram: list = field(default_factory=list)
    limits: dict = field(default_factory=dict)  # budget_attr -> x
    treemap: Rect | None = None
    height: float = 0.0


def draw_panel(svg: Svg, t: Target, x: float, y0: float, scale: Scale, colors: dict[str, str]) -> Panel:
    panel = Panel()
    y = _draw_header(svg, t, x, y0)
    y = _draw_flash(svg, t, x, y, scale, colors, panel)
    y = _draw_ram(svg, t, x, y, scale, colors, panel)
    y = _draw_budgets(svg, t, x, y)
    panel.height = y - y0
    return panel


def _draw_header(svg: Svg, t: Target, x: float, y: float) -> float:
    svg.text(x, y + 14, t.label, 15, "bold", cls="target")
    y += 20
    if t.title:
        svg.text(x, y + 12, t.title, 12, color="#495057")
        y += 18
    for what, names in (("flash", FLASH), ("RAM", RAM)):
        parts = " + ".join(f"{n} {_b(_total(t, [n]))}" for n in names)
        svg.text(x, y + 12, f"{what} {_b(_total(t, names))} ({parts})", 12)
        y += LINE
    changed = [f"{r['name']} {_delta(r)}" for r in t.group("sections") if r.get("delta")]
    if not t.has_previous:
        note, color = "delta: no earlier build with different sizes recorded", "#495057"
    elif changed:
        note, color = "delta vs previous build: " + ", ".join(changed), GREW
    else:
        note, color = "delta vs previous build: sections unchanged", "#495057"
    svg.text(x, y + 12, note, 12, color=color, cls="delta")
    return y + LINE + 10


def _draw_flash(svg: Svg, t: Target, x: float, y: float, scale: Scale, colors: dict[str, str], panel: Panel) -> float:
    """A bar against max_text_bytes, the treemap, and the components' legend."""
    svg.text(x, y + 12, "FLASH  .text by component, then .rodata", 12, "bold")
    y += 20
    nodes = flash_tree(t, colors)
    svg.rect(Rect(x, y, PANEL, BAR), "#f1f3f5", "flash scale", stroke="#dee2e6")
    panel.flash = draw_bar(svg, nodes, x, y, scale.flash_bar)
    budget = _budget(t, ".text")
    if budget:
        panel.limits[budget.get("budget_attr") or ".text"] = draw_limit(svg, budget, x, y, scale.flash_bar)
    y += BAR + 24
    total = _total(t, FLASH)
    if total:
        height = max(total * scale.treemap / PANEL, 40.0)
        panel.treemap = Rect(x, y, PANEL, height)
        svg.rect(panel.treemap, "#f8f9fa", f"flash: {_b(total)}", stroke="#adb5bd")
        panel.flash = draw_treemap(svg, nodes, Rect(x + 1, y + 1, PANEL - 2, height - 2))
        y += height + 8
    estimates = _estimates(t)
    for comp in sorted(estimates, key=lambda c: (-estimates[c][0], -estimates[c][1], c)):
        exact, est = estimates[comp]
        svg.rect(Rect(x, y + 2, 11, 11), colors.get(comp, OTHER), comp, stroke="#495057", width=0.5)
        line = f"{comp}: {_b(exact)} in its own symbols"
        if round(est) != exact:
            line += f", ~{est:.0f} B counting code inlined elsewhere"
        svg.text(x + 16, y + 12, line, 11, cls="component")
        y += LINE
    return y + 10


def _draw_ram(svg: Svg, t: Target, x: float, y: float, scale: Scale, colors: dict[str, str], panel: Panel) -> float:
    """One bar against max_bss_bytes (.bss first, so the line is measured
    from the left), and a line per region, the biggest when there are many."""
    svg.text(x, y + 12, "RAM  .bss, then .data", 12, "bold")
    y += 20
    svg.rect(Rect(x, y, PANEL, BAR), "#f1f3f5", "RAM scale", stroke="#dee2e6")
    nodes = ram_segments(t, colors)
    panel.ram = draw_bar(svg, nodes, x, y, scale.ram_bar)
    budget = _budget(t, ".bss")
    if budget:
        panel.limits[budget.get("budget_attr") or ".bss"] = draw_limit(svg, budget, x, y, scale.ram_bar)
    y += BAR + 24
    shown = nodes if len(nodes) <= RAM_LINES else sorted(nodes, key=lambda n: -n.bytes)[:RAM_LINES - 1]
    for n in (n for n in nodes if n in shown):
        svg.rect(Rect(x, y + 2, 11, 11), n.color, n.title, stroke="#495057", width=0.5)
        detail = n.row.get("detail", "")
        where = detail.split(":")[0] if detail.startswith("linear memory") else detail
        d = _delta(n.row)
        svg.text(x + 16, y + 12, f"{n.name}  {_b(n.bytes)}  {n.row.get('section', '')}  {where}" + (f"  {d}" if d else ""),
                 11, color=GREW if d else "#212529", cls="ram")
        y += LINE
    rest = [n for n in nodes if n not in shown]
    if rest:
        svg.text(x + 16, y + 12, f"... {len(rest)} more, {_b(sum(n.bytes for n in rest))} (hover the bar)", 11, cls="ram")
        y += LINE
    return y + 10


def _draw_budgets(svg: Svg, t: Target, x: float, y: float) -> float:
    """A gauge per row with a budget, and the export stacks without one."""
    budgeted = [r for r in t.rows.values() if r.get("budget") is not None]
    if budgeted:
        svg.text(x, y + 12, "BUDGETS", 12, "bold")
        y += 18
    for r in budgeted:
        full = max(r["budget"], r["bytes"] or 0) or 1
        color = OVER if r.get("over") else "#495057"
        used = "unbounded" if r["bytes"] is None else f"{r['bytes']} / {r['budget']} B" + (
            f" {r['used']:.0f}%" if r.get("used") is not None else "")
        svg.text(x, y + 10, f"{r.get('budget_attr') or r['name']}", 11, cls="budget-label")
        gx, gw = x + 120, PANEL - 120 - 190
        svg.rect(Rect(gx, y, gw, 12), "#f1f3f5", used, stroke="#dee2e6")
        svg.rect(Rect(gx, y, (r["bytes"] if r["bytes"] is not None else full) * gw / full, 12), color,
                 f"{r['name']}: {used}")
        bx = gx + r["budget"] * gw / full
        svg.add(f'<line x1="{bx:.2f}" y1="{y - 2}" x2="{bx:.2f}" y2="{y + 14}" '
                'stroke="#212529" stroke-width="2"/>')
        svg.text(gx + gw + 6, y + 10, f"{r['name'].removesuffix(' (worst case)')} {used}", 10.5, color=color)
        y += LINE + 2
    stack = [r for r in t.group("stack") if r.get("budget") is None]
    for title, suffix in (("native stack, worst case", " (worst case)"), ("shadow stack, static worst case",
                                                                          " (shadow stack)")):
        rows = [r for r in stack if r["name"].endswith(suffix)]
        if rows:
            svg.text(x, y + 12, f"{title}: " + ", ".join(
                f"{r['name'].removesuffix(suffix)} {_b(r['bytes'])}" for r in rows), 11)
            y += LINE
    return y


def _estimates(t: Target) -> dict[str, tuple[int, float]]:
    """component -> (bytes of its own symbols, bytes counting inlined code where it came from)."""
    out: dict[str, list] = {}
    for f in t.group("functions"):
        comp = f.get("component") or "(unattributed)"
        out.setdefault(comp, [0, 0.0])[0] += f["bytes"] or 0
        if f.get("parts"):
            for p in f["parts"]:
                out.setdefault(p["component"], [0, 0.0])[1] += p["estimated_bytes"]
        else:
            out[comp][1] += f["bytes"] or 0
    return {c: (v[0], v[1]) for c, v in out.items() if v[0] or v[1]}


LEGEND = ("hatched ~: code the compiler inlined, its bytes estimated from its wasm size",
          "outlined: changed since the previous build (orange: grew or new, green: shrank)",
          "dashed line: a budget (red: over it)")


def picture(results) -> tuple[str, list[Panel]]:
    """The SVG for every target side by side, and where things landed."""
    ts = targets(results)
    colors, scale = palette(ts), common_scale(ts)
    body, panels, y = Svg(), [], MARGIN
    for first in range(0, len(ts), PER_ROW):
        line = [draw_panel(body, t, MARGIN + i * (PANEL + GAP), y, scale, colors)
                for i, t in enumerate(ts[first:first + PER_ROW])]
        panels += line
        y += max(p.height for p in line) + GAP
    columns = min(len(ts), PER_ROW)
    width = 2 * MARGIN + columns * PANEL + (columns - 1) * GAP
    for i, line in enumerate(LEGEND):
        body.text(MARGIN, y - GAP + 16 + i * 14, line, 10.5, color="#495057")
    height = y - GAP + 16 + len(LEGEND) * 14
    width = max(width, 2 * MARGIN + max(len(line) for line in LEGEND) * 10.5 * CHAR)
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
            f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="{escape(FONT, {chr(34): "&quot;"})}">'
            '<defs><pattern id="estimated" width="6" height="6" patternUnits="userSpaceOnUse" '
            'patternTransform="rotate(45)"><rect width="2.5" height="6" fill="#ffffff" fill-opacity="0.45"/>'
            '</pattern></defs>'
            f'<rect width="{width:.0f}" height="{height:.0f}" fill="#ffffff"/>')
    return head + "\n".join(body.parts) + "</svg>\n", panels


def render_svg(results) -> str:
    return picture(results)[0]


def render_html(results) -> str:
    """One file: the same picture inline and each target's rows as a table;
    no script, no font, no request."""
    svg, _ = picture(results)
    ts = targets(results)
    title = "wasmelt size: " + ", ".join(t.label for t in ts)
    tables = []
    for t in ts:
        lines = [f"<h2>{escape(t.label)}</h2>", f"<p>{escape(t.title)}</p>" if t.title else "",
                 "<table><thead><tr><th>group</th><th>name</th><th>bytes</th><th>budget</th><th>used</th>"
                 "<th>delta</th><th>detail</th></tr></thead><tbody>"]
        for (group, name), r in t.rows.items():
            cls = ' class="over"' if r.get("over") else ' class="changed"' if _changed(r) else ""
            cells = (group, name, _b(r["bytes"]), "" if r.get("budget") is None else _b(r["budget"]),
                     "" if r.get("used") is None else f"{r['used']:.0f}%", _delta(r), r.get("detail", ""))
            lines.append(f"<tr{cls}>" + "".join(f"<td>{escape(str(c))}</td>" for c in cells) + "</tr>")
        lines.append("</tbody></table>")
        tables.append("\n".join(lines))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>{escape(title)}</title>
<style>
body {{ font-family: {FONT}; margin: 16px; color: #212529; background: #fff; }}
h1 {{ font-size: 18px; }} h2 {{ font-size: 15px; margin-top: 24px; }}
.map {{ overflow-x: auto; }}
svg rect:hover {{ stroke: #000; stroke-width: 2; }}
table {{ border-collapse: collapse; font-size: 12px; }}
td, th {{ border-bottom: 1px solid #dee2e6; padding: 2px 8px; text-align: left; vertical-align: top; }}
td:nth-child(3), td:nth-child(4), td:nth-child(5), td:nth-child(6) {{ text-align: right; white-space: nowrap; }}
tr.changed td {{ color: {GREW}; }} tr.over td {{ color: {OVER}; font-weight: bold; }}
</style></head>
<body>
<h1>{escape(title)}</h1>
<p>Hover a rectangle for its bytes and where they came from.</p>
<div class="map">
{svg}</div>
{chr(10).join(tables)}
</body></html>
"""
