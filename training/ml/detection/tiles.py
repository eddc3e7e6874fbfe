"""Tiled detection for small objects (SAHI-style): the whole image and GRID x GRID overlapping tiles each through
the detector, their boxes mapped back to the image and merged.

Two rules keep the tiles from breaking objects larger than a tile's share of them (``benchmarks/small_objects.py``
measured both): a tile's box that reaches within ``edge`` (a fraction of the tile) of a side the tile shares with
another tile is dropped (an object the tile cuts; the whole image or the neighbouring tile sees it whole), and after
class-aware NMS a box whose area lies more than ``inside`` within a more probable box of its tag is dropped (a part
of a larger object, which NMS's IoU does not catch).

numpy only: the server's DetectionPredictor, training's evaluation and every detection export's predict.py (this
file's source is appended to it, ``training.ml.export``) tile with this same code, so the exports answer as the
server does. Boxes are (x0, y0, x1, y1) fractions of the image they were found in.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

GRID = 2
OVERLAP = 0.2
EDGE = 0.01
INSIDE = 0.7
NMS_IOU = 0.5  # training.ml.detection.model.NMS_IOU, the graph's own


def settings() -> dict[str, float]:
    """What a tiling detector's metadata.json records as "tiles" (the keyword arguments of :func:`tiled_outputs`)."""
    return {"grid": GRID, "overlap": OVERLAP, "edge": EDGE, "inside": INSIDE}


def tile_windows(width: int, height: int, grid: int = GRID, overlap: float = OVERLAP
                 ) -> list[tuple[int, int, int, int]]:
    """The (left, top, right, bottom) pixel windows of ``grid`` x ``grid`` tiles of a ``width`` x ``height`` image,
    neighbours overlapping by ``overlap`` of a tile, left to right by column."""
    tw, th = width / (grid - (grid - 1) * overlap), height / (grid - (grid - 1) * overlap)
    windows = []
    for i in range(grid):
        for j in range(grid):
            x0, y0 = i * tw * (1 - overlap), j * th * (1 - overlap)
            windows.append((round(x0), round(y0), min(width, round(x0 + tw)), min(height, round(y0 + th))))
    return windows


def class_nms(boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray, iou: float = NMS_IOU) -> np.ndarray:
    """Indices of the boxes greedy NMS keeps, tag by tag (a box is dropped where a more probable box of its tag
    overlaps it by IoU > ``iou``), most probable first."""
    order = np.argsort(-scores, kind="stable")
    b, lab = boxes[order], labels[order]
    area = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    wh = np.clip(np.minimum(b[:, None, 2:], b[None, :, 2:]) - np.maximum(b[:, None, :2], b[None, :, :2]), 0, None)
    inter = wh[..., 0] * wh[..., 1]
    union = area[:, None] + area[None, :] - inter
    overlaps = (inter > iou * np.where(union > 0, union, 1.0)) & (lab[:, None] == lab[None, :])
    dropped = np.zeros(len(b), dtype=bool)
    keep = []
    for i in range(len(b)):
        if not dropped[i]:
            keep.append(i)
            dropped |= overlaps[i]
    return order[np.asarray(keep, dtype=np.int64)]


def tiled_outputs(run: Callable[[np.ndarray], Sequence[Any]], array: np.ndarray,
                  max_detections: int, grid: int = GRID, overlap: float = OVERLAP, edge: float = EDGE,
                  inside: float = INSIDE, iou: float = NMS_IOU) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boxes (D, 4), scores (D,) and labels (D,) of the decoded image ``array`` (uint8 [H, W, 3]): ``run`` (the
    detector on one uint8 image: boxes as fractions of it, scores, labels) on the whole image, then on each tile
    (:func:`tile_windows`, in that order), merged as the module says; at most ``max_detections``, most probable
    first."""
    height, width = array.shape[:2]
    parts = [tuple(np.asarray(o) for o in run(array))]
    for x0, y0, x1, y1 in tile_windows(width, height, grid, overlap):
        b, s, lab = (np.asarray(o) for o in run(np.ascontiguousarray(array[y0:y1, x0:x1])))
        b = b.reshape(-1, 4)
        whole = np.ones(len(b), dtype=bool)
        for side, shared in enumerate((x0 > 0, y0 > 0, x1 < width, y1 < height)):
            if shared:  # a box reaching this inner side is cut by the tile
                whole &= b[:, side] > edge if side < 2 else b[:, side] < 1 - edge
        scale = np.array([(x1 - x0) / width, (y1 - y0) / height] * 2, dtype=b.dtype)
        offset = np.array([x0 / width, y0 / height] * 2, dtype=b.dtype)
        parts.append((b[whole] * scale + offset, s[whole], lab[whole]))
    boxes = np.concatenate([p[0].reshape(-1, 4) for p in parts]).astype(np.float32)
    scores = np.concatenate([p[1] for p in parts]).astype(np.float32)
    labels = np.concatenate([p[2] for p in parts]).astype(np.int64)
    keep = class_nms(boxes, scores, labels, iou)
    boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
    area = np.clip((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]), 1e-12, None)
    wh = np.clip(np.minimum(boxes[:, None, 2:], boxes[None, :, 2:]) - np.maximum(boxes[:, None, :2],
                                                                                 boxes[None, :, :2]), 0, None)
    share = wh[..., 0] * wh[..., 1] / area[:, None]  # [i, j]: the share of box i inside box j
    earlier = np.arange(len(boxes))[None, :] < np.arange(len(boxes))[:, None]  # j more probable than i
    part = ((share > inside) & (labels[:, None] == labels[None, :]) & earlier).any(axis=1)
    keep = np.flatnonzero(~part)[:max_detections]
    return boxes[keep], scores[keep], labels[keep]
