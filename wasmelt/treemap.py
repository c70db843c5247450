"""The squarified treemap layout: rectangles tiling a box with areas
proportional to values, each row laid out to keep aspect ratios near 1."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    w: float
    h: float

    @property
    def area(self) -> float:
        return self.w * self.h


def squarify(values: list[float], box: Rect) -> list[Rect]:
    """Rectangles tiling `box` with areas proportional to `values` (in their
    order), laid out row by row so each row keeps its aspect ratios near 1."""
    out = [Rect(box.x, box.y, 0.0, 0.0)] * len(values)
    items = sorted((i for i, v in enumerate(values) if v > 0), key=lambda i: -values[i])
    total = sum(values[i] for i in items)
    if not items or box.w <= 0 or box.h <= 0:
        return out
    scale = box.area / total
    x, y, w, h = box.x, box.y, box.w, box.h
    while items:
        short = min(w, h)
        row = [items[0]]
        while len(row) < len(items) and _worst(row + [items[len(row)]], values, scale, short) <= _worst(row, values, scale, short):
            row.append(items[len(row)])
        items = items[len(row):]
        area = sum(values[i] for i in row) * scale
        if not items:  # the last row takes what is left, whatever the rounding
            area = w * h
        if w >= h:  # a column on the left
            t = area / h if h else 0.0
            cy = y
            for n, i in enumerate(row):
                ih = h - (cy - y) if n == len(row) - 1 else values[i] * scale / t
                out[i] = Rect(x, cy, t, ih)
                cy += ih
            x, w = x + t, w - t
        else:  # a row at the top
            t = area / w if w else 0.0
            cx = x
            for n, i in enumerate(row):
                iw = w - (cx - x) if n == len(row) - 1 else values[i] * scale / t
                out[i] = Rect(cx, y, iw, t)
                cx += iw
            y, h = y + t, h - t
    return out


def _worst(row: list[int], values: list[float], scale: float, short: float) -> float:
    areas = [values[i] * scale for i in row]
    s = sum(areas)
    return max(max(short * short * a / (s * s), s * s / (short * short * a)) for a in areas)
