"""Pure box geometry in Azure's normalised convention (left/top = top-left corner, all in [0, 1]); no Django.

``box_problem`` + ``normalise`` are the one region check: the labeler, the regions API and uploads with regions
all go through labeling.services, which uses them. training/ml (which may not import us) checks the boxes it
loads by the same contract, EDGE_TOLERANCE included; tests/labeling/test_geometry.py pins that the two agree.
The server's half: validating and snapping what the browser sends. Drawing, moving and resizing boxes is
static/labeling/geometry.js (tested in tests/js/).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# How far a box may stick out of the image and still be taken (clipped to the edge): float noise from the browser
# (0.1 + 0.9 = 1.0000000000000002) and coordinates rounded to 3 decimals by other tools. Same value as
# training.ml.detection.data.BOX_TOLERANCE, the ML loader's check of the same contract.
EDGE_TOLERANCE = 1e-3
# Two boxes closer than this on every coordinate are the same box (a retried save, a duplicated region).
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


def _clip(start: float, size: float) -> tuple[float, float]:
    """A segment cut to [0, 1]; left bit for bit as it is when it already lies inside."""
    if start >= 0 and start + size <= 1:
        return start, size
    lo, hi = _clamp01(start), _clamp01(start + size)
    return lo, max(0.0, hi - lo)


def is_finite(*values: float) -> bool:
    return all(isinstance(v, (int, float)) and math.isfinite(v) for v in values)


def box_problem(left: float, top: float, width: float, height: float) -> str | None:
    """Why this box is not a valid normalised region, or None when it is."""
    if not is_finite(left, top, width, height):
        return "Region coordinates must be finite numbers."
    if width <= 0 or height <= 0:
        return "Region width and height must be greater than 0."
    if left < -EDGE_TOLERANCE or top < -EDGE_TOLERANCE:
        return "Region left and top must be at least 0."
    if left + width > 1 + EDGE_TOLERANCE or top + height > 1 + EDGE_TOLERANCE:
        return "Region must lie inside the image (left + width and top + height at most 1)."
    inside = clamp_box(Box(left, top, width, height))
    if inside.width <= 0 or inside.height <= 0:
        return "Region must lie inside the image (left + width and top + height at most 1)."
    return None


def normalise(left: float, top: float, width: float, height: float) -> Box:
    """Clip a valid box's overshoot (at most EDGE_TOLERANCE) so it lies in [0, 1] exactly (call after
    ``box_problem`` returned None)."""
    return clamp_box(Box(left, top, width, height))


def clamp_box(box: Box) -> Box:
    """The part of ``box`` inside the image (may have zero size if it lies entirely outside)."""
    (left, width), (top, height) = _clip(box.left, box.width), _clip(box.top, box.height)
    return Box(left, top, width, height)


def to_pixels(box: Box, width_px: float, height_px: float) -> tuple[float, float, float, float]:
    """(x, y, w, h) in pixels of an image ``width_px`` × ``height_px``."""
    return box.left * width_px, box.top * height_px, box.width * width_px, box.height * height_px


def same_box(a: Box, b: Box, tolerance: float = EPSILON) -> bool:
    """Whether two boxes are the same up to float noise (used to spot duplicated regions)."""
    return all(abs(p - q) <= tolerance for p, q in zip(_coords(a), _coords(b), strict=True))


def _coords(box: Box) -> tuple[float, float, float, float]:
    return box.left, box.top, box.width, box.height
