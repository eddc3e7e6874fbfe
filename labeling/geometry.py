"""Pure box geometry in Azure's normalised convention (left/top = top-left corner, all in [0, 1]); no Django.

The server's half: validating and snapping what the browser sends. Drawing, moving and resizing boxes is
static/labeling/geometry.js (tested in tests/js/).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# Float noise from the browser (e.g. 0.1 + 0.9 = 1.0000000000000002) must not fail validation.
EPSILON = 1e-6


@dataclass(frozen=True)
class Box:
    """A normalised box; ``left``/``top`` is the top-left corner, ``width``/``height`` its size."""

    left: float
    top: float
    width: float
    height: float


def _clamp01(value: float) -> float:
    return min(1.0, max(0.0, value))


def is_finite(*values: float) -> bool:
    return all(isinstance(v, (int, float)) and math.isfinite(v) for v in values)


def box_problem(left: float, top: float, width: float, height: float) -> str | None:
    """Why this box is not a valid normalised region, or None when it is."""
    if not is_finite(left, top, width, height):
        return "Region coordinates must be finite numbers."
    if width <= 0 or height <= 0:
        return "Region width and height must be greater than 0."
    if left < -EPSILON or top < -EPSILON:
        return "Region left and top must be at least 0."
    if left + width > 1 + EPSILON or top + height > 1 + EPSILON:
        return "Region must lie inside the image (left + width and top + height at most 1)."
    return None


def normalise(left: float, top: float, width: float, height: float) -> Box:
    """Snap a valid box's float noise into [0, 1] exactly (call after ``box_problem`` returned None)."""
    left, top = _clamp01(left), _clamp01(top)
    return Box(left, top, min(width, 1.0 - left), min(height, 1.0 - top))


def to_pixels(box: Box, width_px: float, height_px: float) -> tuple[float, float, float, float]:
    """(x, y, w, h) in pixels of an image ``width_px`` × ``height_px``."""
    return box.left * width_px, box.top * height_px, box.width * width_px, box.height * height_px


def same_box(a: Box, b: Box, tolerance: float = EPSILON) -> bool:
    """Whether two boxes are the same up to float noise (used to spot duplicated regions)."""
    return all(abs(p - q) <= tolerance for p, q in zip(_coords(a), _coords(b), strict=True))


def _coords(box: Box) -> tuple[float, float, float, float]:
    return box.left, box.top, box.width, box.height
