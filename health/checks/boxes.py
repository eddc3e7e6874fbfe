"""Detection box checks on normalised (left, top, width, height) boxes: whole-image, tiny, doubled, and model-based.

The model-based ones read a detector's predictions on images it did not train on (the iteration's validation
predictions): a confident box that matches no drawn box ("missing"), and a drawn box matched by a confident box
of another tag only ("tag disagrees").
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

WHOLE_IMAGE_AREA = 0.95  # a box covering this much of the image is probably "the whole image", not an object
TINY_AREA = 0.0005  # below 0.05 % of the image (e.g. 14 x 14 px on 640 x 480) a box is likely a slip...
TINY_SIDE = 0.01
# ... where its tag's boxes are otherwise larger: a tiny box is flagged only under this share of its tag's median box
# area. In a set of small objects (dozens of 8-20 px boxes a photo) the tiny boxes are the objects, not slips; a 6 px
# box among a tag's 100 px ones still is one.
TINY_OF_MEDIAN = 0.1
DOUBLE_IOU = 0.9  # two boxes of one tag overlapping this much are the same object drawn twice
CONFIDENT = 0.8  # a prediction this probable is "high confidence"
MATCH_IOU = 0.5  # a prediction and a drawn box this overlapping are the same object
MISSING_IOU = 0.3  # a confident prediction overlapping no drawn box this much is an object nobody drew

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class BoxIssue:
    kind: str  # "whole_image" | "tiny" | "double" | "missing" | "tag_disagrees"
    index: int  # the drawn box (into the boxes passed in); -1 for "missing"
    other: int = -1  # "double": the other drawn box
    tag: str = ""  # "missing" / "tag_disagrees": the model's tag
    probability: float = 0.0
    box: Box | None = None  # "missing": where the model sees it


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two (left, top, width, height) boxes."""
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def shape_issues(boxes: Sequence[tuple[str, str, Box]]) -> list[BoxIssue]:
    """Whole-image, tiny and doubled boxes among ``boxes`` = [(image key, tag, box)].

    A box is tiny when it is small in its image (``TINY_AREA``, ``TINY_SIDE``) and also small for its tag: under
    ``TINY_OF_MEDIAN`` of the median area of the tag's boxes (of all boxes, for a tag with fewer than three)."""
    out = []
    by_image: dict[str, list[int]] = {}
    areas: dict[str, list[float]] = {}
    for _image, tag, (_left, _top, width, height) in boxes:
        areas.setdefault(tag, []).append(width * height)
    everything = [a for tag_areas in areas.values() for a in tag_areas]
    typical = {tag: statistics.median(a if len(a) >= 3 else everything) for tag, a in areas.items()}
    for i, (image, tag, (_left, _top, width, height)) in enumerate(boxes):
        by_image.setdefault(image, []).append(i)
        if width * height >= WHOLE_IMAGE_AREA:
            out.append(BoxIssue("whole_image", i))
        elif (width * height < TINY_AREA or min(width, height) < TINY_SIDE) and (
            width * height < TINY_OF_MEDIAN * typical[tag]
        ):
            out.append(BoxIssue("tiny", i))
    for idx in by_image.values():
        for a_pos, a in enumerate(idx):
            for b in idx[a_pos + 1 :]:
                if boxes[a][1] == boxes[b][1] and iou(boxes[a][2], boxes[b][2]) > DOUBLE_IOU:
                    out.append(BoxIssue("double", b, other=a))
    return out


def model_issues(
    drawn: Sequence[tuple[str, Box]], predicted: Sequence[tuple[str, float, Box]], *, confident: float = CONFIDENT
) -> list[BoxIssue]:
    """Issues of one image: ``drawn`` [(tag, box)] against the model's ``predicted`` [(tag, probability, box)]."""
    out = []
    sure = [p for p in predicted if p[1] >= confident]
    for tag, prob, box in sure:
        if all(iou(box, d[1]) < MISSING_IOU for d in drawn):
            out.append(BoxIssue("missing", -1, tag=tag, probability=prob, box=box))
    for i, (tag, box) in enumerate(drawn):
        matches = [p for p in predicted if iou(p[2], box) >= MATCH_IOU]
        same = [p for p in matches if p[0] == tag and p[1] >= confident / 2]
        other = [p for p in matches if p[0] != tag and p[1] >= confident]
        if other and not same:
            best = max(other, key=lambda p: p[1])
            out.append(BoxIssue("tag_disagrees", i, tag=best[0], probability=best[1]))
    return out


def box_crop(box: Box, width: int, height: int, *, margin: float = 0.1) -> tuple[int, int, int, int]:
    """Pixel (left, upper, right, lower) of a box grown by ``margin`` of its size on each side (for embedding)."""
    left, top, w, h = box
    x0 = max(0, int((left - margin * w) * width))
    y0 = max(0, int((top - margin * h) * height))
    x1 = min(width, max(x0 + 1, int(round((left + w + margin * w) * width))))
    y1 = min(height, max(y0 + 1, int(round((top + h + margin * h) * height))))
    return x0, y0, x1, y1
