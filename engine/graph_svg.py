"""The target graph as a standalone SVG, laid out in pure Python (no
Graphviz): layers by longest path from the requested targets, left to right."""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from .graph import TargetGraph

CHAR_W, LINE_H, PAD_X, GAP_X, GAP_Y, BOX_H = 7.2, 14, 10, 60, 18, 36
PALETTE = ("#e8f0fe", "#e6f4ea", "#fef7e0", "#fce8e6", "#f3e8fd", "#e0f7fa", "#f1f3f4")


def _layers(graph: TargetGraph) -> list[list]:
    """Dependents to the left of their dependencies, each node in the layer
    after its deepest dependent; within a layer, ordered by the mean position
    of the dependents (fewer crossings)."""
    layer = {}
    for label in reversed(graph.order):  # dependents before their dependencies
        layer.setdefault(label, 0)
        for dep in graph.targets[label].deps:
            layer[dep] = max(layer.get(dep, 0), layer[label] + 1)
    rows: list[list] = [[] for _ in range(max(layer.values(), default=-1) + 1)]
    for label in sorted(layer):
        rows[layer[label]].append(label)
    parents: dict = {}
    for label, t in graph.targets.items():
        for dep in t.deps:
            parents.setdefault(dep, []).append(label)
    for i in range(1, len(rows)):
        position = {label: j for j, label in enumerate(rows[i - 1])}
        for earlier in rows[:i - 1]:
            position.update({label: j for j, label in enumerate(earlier)})

        def weight(label):
            ps = [position[p] for p in parents.get(label, []) if p in position]
            return (sum(ps) / len(ps) if ps else 0.0, str(label))

        rows[i].sort(key=weight)
    return rows


def to_svg(graph: TargetGraph) -> str:
    rows = _layers(graph)
    box: dict = {}
    x = 20.0
    height = 0.0
    for column in rows:
        width = max((max(len(str(l)), len(graph.targets[l].kind) + 2) * CHAR_W + 2 * PAD_X for l in column), default=0)
        y = 20.0
        for label in column:
            box[label] = (x, y, width)
            y += BOX_H + GAP_Y
        height = max(height, y)
        x += width + GAP_X
    total_w, total_h = max(x - GAP_X + 20, 40), max(height + 2, 40)
    kinds = sorted({t.kind for t in graph.targets.values()})
    colour = {k: PALETTE[i % len(PALETTE)] for i, k in enumerate(kinds)}
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{total_w:.0f}" height="{total_h:.0f}" '
           f'viewBox="0 0 {total_w:.0f} {total_h:.0f}" font-family="monospace" font-size="12">',
           "<title>wasmelt target graph</title>",
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" '
           'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#555"/></marker></defs>',
           '<g class="edges" fill="none" stroke="#555" stroke-width="1.2">']
    for label in sorted(graph.targets):
        x1, y1, w1 = box[label]
        for dep in graph.targets[label].deps:
            if dep not in box:
                continue
            x2, y2, _ = box[dep]
            sx, sy, ex, ey = x1 + w1, y1 + BOX_H / 2, x2, y2 + BOX_H / 2
            mid = (sx + ex) / 2
            out.append(f'<path d="M {sx:.1f} {sy:.1f} C {mid:.1f} {sy:.1f}, {mid:.1f} {ey:.1f}, {ex:.1f} {ey:.1f}" '
                       f'marker-end="url(#arrow)"><title>{escape(f"{label} -> {dep}")}</title></path>')
    out.append("</g>")
    out.append('<g class="nodes">')
    for label in sorted(graph.targets):
        bx, by, bw = box[label]
        kind = graph.targets[label].kind
        out.append(f"<g class=\"node\" id={quoteattr(str(label))}><title>{escape(str(label))} ({escape(kind)})</title>"
                   f'<rect x="{bx:.1f}" y="{by:.1f}" width="{bw:.1f}" height="{BOX_H}" rx="4" '
                   f'fill="{colour[kind]}" stroke="#333"/>'
                   f'<text x="{bx + PAD_X:.1f}" y="{by + LINE_H:.1f}">{escape(str(label))}</text>'
                   f'<text x="{bx + PAD_X:.1f}" y="{by + 2 * LINE_H - 1:.1f}" fill="#555">({escape(kind)})</text></g>')
    out.append("</g>")
    out.append("</svg>")
    return "\n".join(out) + "\n"
