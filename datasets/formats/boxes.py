"""Boxes from a file into Azure's normalised frame, as the user sees the image: scaled, turned, clipped, checked.

The one rule for every format (labeling.geometry does the clipping): a box past the image edge is clipped to it
with a warning; a box of zero area, or wholly outside, is dropped with a warning.
"""

from __future__ import annotations

import math

from datasets.formats.dataset import Item, Problems
from labeling import geometry
from training.ml.manifest import Box

_QUARTER_TURNS = {5, 6, 7, 8}


def _turned(
    orientation: int, left: float, top: float, width: float, height: float
) -> tuple[float, float, float, float]:
    """A normalised box drawn on the stored pixels, moved to where it is once the EXIF orientation is applied
    (the transforms of PIL.ImageOps.exif_transpose)."""
    corners = [(left, top), (left + width, top + height)]

    def move(u: float, v: float) -> tuple[float, float]:
        return {
            2: (1 - u, v), 3: (1 - u, 1 - v), 4: (u, 1 - v), 5: (v, u),
            6: (1 - v, u), 7: (1 - v, 1 - u), 8: (v, 1 - u),
        }.get(orientation, (u, v))

    (x0, y0), (x1, y1) = (move(*c) for c in corners)
    return min(x0, x1), min(y0, y1), abs(x1 - x0), abs(y1 - y0)


def from_pixels(
    item: Item, tag: str, x: float, y: float, w: float, h: float, *,
    declared: tuple[float, float] | None, where: str, problems: Problems, turned_note: set[str],
) -> Box | None:
    """A pixel box (top-left x/y, width/height) normalised by the image's size.

    ``declared``: the size the annotation file states. When it is the stored (unturned) size of a JPEG whose EXIF
    turns it a quarter, the box was drawn on the unturned pixels and is turned with the image (one warning per
    image, collected in ``turned_note``). Another size that differs from the image's: boxes are scaled from the
    declared size (the image was resized after labelling), with a warning.
    """
    size_w, size_h = float(item.width), float(item.height)
    turn = 1
    if declared and declared[0] > 0 and declared[1] > 0 and declared != (size_w, size_h):
        if item.orientation in _QUARTER_TURNS and declared == (size_h, size_w):
            turn = item.orientation
            if item.name not in turned_note:
                turned_note.add(item.name)
                problems.warning(where, f"the boxes of {item.name} were drawn on the unrotated photo "
                                        f"({int(size_h)}×{int(size_w)}); they are turned with it (EXIF orientation).")
        elif item.name not in turned_note:
            turned_note.add(item.name)
            problems.warning(where, f"declares {declared[0]:g}×{declared[1]:g} px but {item.name} is "
                                    f"{item.width}×{item.height}; its boxes are scaled from the declared size.")
        size_w, size_h = declared
    box = (x / size_w, y / size_h, w / size_w, h / size_h)
    if turn != 1:
        box = _turned(turn, *box)
    return checked(tag, *box, where=where, problems=problems)


def checked(tag: str, left: float, top: float, width: float, height: float, *, where: str,
            problems: Problems) -> Box | None:
    """A normalised box as it will be stored: clipped into the image (warning), or None (warning) when it has no
    area or lies outside the image."""
    if not all(math.isfinite(v) for v in (left, top, width, height)):
        problems.warning(where, f"a {tag!r} box has coordinates that are not numbers; it is skipped.")
        return None
    if width <= 0 or height <= 0:
        problems.warning(where, f"a {tag!r} box has zero area ({width:g}×{height:g}); it is skipped.")
        return None
    inside = geometry.clamp_box(geometry.Box(left, top, width, height))
    if inside.width <= 0 or inside.height <= 0:
        problems.warning(where, f"a {tag!r} box lies outside the image; it is skipped.")
        return None
    if not geometry.same_box(inside, geometry.Box(left, top, width, height), tolerance=1e-9):
        problems.warning(where, f"a {tag!r} box runs past the image edge; it is clipped to the image.")
    return Box(tag, inside.left, inside.top, inside.width, inside.height)
