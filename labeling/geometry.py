"""Pure box geometry in Azure's normalised convention (left/top = top-left corner, all in [0, 1]); no Django.

``box_problem`` + ``normalise`` are the one region check: the labeler, the regions API and uploads with regions
all go through labeling.services, which uses them. training/ml (which may not import us) checks the boxes it
loads by the same contract, EDGE_TOLERANCE included; tests/labeling/test_geometry.py pins that the two agree.
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
MIN_BOX_PX = 2  # a drag smaller than this (on screen) is a click, not a box


@dataclass(frozen=True)
class Box:
    """A normalised box; ``left``/``top`` is the top-left corner, ``width``/``height`` its size."""

    left: float
    top: float
    width: float
    height: float

    @property
    def right(self) -> float:
        return self.left + self.width

    @property
    def bottom(self) -> float:
        return self.top + self.height

    @property
    def area(self) -> float:
        return self.width * self.height


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


def box_from_points(x0: float, y0: float, x1: float, y1: float) -> Box:
    """The box spanned by two corners given in any order (a drag can go any direction), clamped."""
    return clamp_box(Box(min(x0, x1), min(y0, y1), abs(x1 - x0), abs(y1 - y0)))


def move_box(box: Box, dx: float, dy: float) -> Box:
    """``box`` shifted by (dx, dy) but kept whole inside the image (its size never changes)."""
    left = min(max(0.0, box.left + dx), 1.0 - box.width)
    top = min(max(0.0, box.top + dy), 1.0 - box.height)
    return Box(left, top, box.width, box.height)


def to_pixels(box: Box, width_px: float, height_px: float) -> tuple[float, float, float, float]:
    """(x, y, w, h) in pixels of an image ``width_px`` × ``height_px``."""
    return box.left * width_px, box.top * height_px, box.width * width_px, box.height * height_px


def from_pixels(x: float, y: float, w: float, h: float, width_px: float, height_px: float) -> Box:
    """A pixel box on an image ``width_px`` × ``height_px`` as a normalised, clamped box."""
    return clamp_box(Box(x / width_px, y / height_px, w / width_px, h / height_px))


def is_too_small(box: Box, width_px: float, height_px: float, min_px: float = MIN_BOX_PX) -> bool:
    """True when the box is under ``min_px`` on either side once drawn at ``width_px`` × ``height_px``."""
    return box.width * width_px < min_px or box.height * height_px < min_px


def same_box(a: Box, b: Box, tolerance: float = EPSILON) -> bool:
    """Whether two boxes are the same up to float noise (used to spot duplicated regions)."""
    return all(abs(p - q) <= tolerance for p, q in zip(_coords(a), _coords(b), strict=True))


def _coords(box: Box) -> tuple[float, float, float, float]:
    return box.left, box.top, box.width, box.height
