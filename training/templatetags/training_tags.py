"""Template filters for the Performance tab: percentages, durations, SVG geometry."""

from __future__ import annotations

import math
from typing import Any

from django import template

from training import plots

register = template.Library()

RING_RADIUS = 34.0


@register.filter
def pct(value: Any, digits: int = 1) -> str:
    """0.9534 → "95.3%"."""
    try:
        return f"{float(value) * 100:.{int(digits)}f}%"
    except (TypeError, ValueError):
        return "—"


@register.filter
def duration(seconds: Any) -> str:
    """75 → "1 min 15 s"; 2.34 → "2.3 s" (training takes seconds: tenths matter); None → "—"."""
    if seconds is None:
        return "—"
    if float(seconds) < 10:
        return f"{float(seconds):.1f} s"
    s = int(round(float(seconds)))
    if s < 60:
        return f"{s} s"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{m} min {s} s"
    h, m = divmod(m, 60)
    return f"{h} h {m} min"


@register.filter
def ring(value: Any) -> str:
    """stroke-dasharray of a gauge ring filled to ``value`` (0..1)."""
    c = 2 * math.pi * RING_RADIUS
    try:
        v = min(1.0, max(0.0, float(value)))
    except (TypeError, ValueError):
        v = 0.0
    return f"{v * c:.1f} {c:.1f}"


@register.filter
def polyline(points: Any, size: str = "200x140") -> str:
    """PR-curve points (recall, precision) as an SVG ``points`` attribute for a WxH box."""
    w, h = (float(x) for x in size.split("x"))
    return plots.svg_polyline(points or [], width=w, height=h)


@register.filter
def svgpoint(point: Any, size: str = "200x140") -> tuple[float, float]:
    w, h = (float(x) for x in size.split("x"))
    return plots.svg_point(tuple(point or (0.0, 1.0)), width=w, height=h)


@register.filter
def heat(count: Any, row: Any) -> str:
    """Background opacity of a confusion cell: its share of the row."""
    try:
        total = sum(int(x) for x in row)
        return f"{(int(count) / total) if total else 0:.2f}"
    except (TypeError, ValueError):
        return "0"


@register.filter
def zip_labels(matrix: Any, labels: Any) -> list[tuple[Any, Any]]:
    return list(zip(labels or [], matrix or [], strict=False))


@register.filter
def cellkey(true_tag: str, predicted: str) -> str:
    return f"{true_tag}|{predicted}"


@register.filter
def get(mapping: Any, key: Any) -> Any:
    try:
        return mapping[key]
    except (KeyError, IndexError, TypeError):
        return None

