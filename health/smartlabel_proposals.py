"""Generic, class-agnostic region proposals for an image when no detector is trained yet (plain numpy + SciPy,
no weights, no Django): colour segmentation at a few granularities plus a border-contrast foreground, each
connected segment's box scored by how much it stands out from its surroundings, then non-maximum suppression.

A small cousin of selective search (Uijlings et al. 2013): segments of a k-means colour quantisation at k = 3, 5
and 8 and pairs of touching segments grouped, scored by colour contrast between the box and a ring around it
and by how much of the box the segment fills. Boxes are normalised [0, 1] (left, top, width, height).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image as PILImage
from scipy import ndimage

SIDE = 96  # work on a small copy: proposals are coarse and this keeps one image under ~100 ms
MIN_AREA = 0.01  # of the image
MAX_AREA = 0.95


@dataclass(frozen=True)
class Box:
    confidence: float
    left: float
    top: float
    width: float
    height: float


def _small(image: PILImage.Image) -> np.ndarray:
    im = image.convert("RGB")
    scale = SIDE / max(im.size)
    im = im.resize((max(8, round(im.width * scale)), max(8, round(im.height * scale))), PILImage.Resampling.BILINEAR)
    return np.asarray(im, dtype=np.float32) / 255.0


def _kmeans(pixels: np.ndarray, k: int, rng: np.random.Generator, steps: int = 8) -> np.ndarray:
    centres = pixels[rng.choice(len(pixels), size=k, replace=False)]
    labels = np.zeros(len(pixels), dtype=np.int32)
    for _ in range(steps):
        d = ((pixels[:, None, :] - centres[None, :, :]) ** 2).sum(-1)
        labels = d.argmin(1)
        for j in range(k):
            chosen = pixels[labels == j]
            if len(chosen):
                centres[j] = chosen.mean(0)
    return labels


def iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    ax2, ay2, bx2, by2 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    w = max(0.0, min(ax2, bx2) - max(a[0], b[0]))
    h = max(0.0, min(ay2, by2) - max(a[1], b[1]))
    inter = w * h
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def nms(boxes: list[Box], *, iou_threshold: float, limit: int) -> list[Box]:
    """Greedy non-maximum suppression, most confident first, class-agnostic."""
    kept: list[Box] = []
    for box in sorted(boxes, key=lambda b: -b.confidence):
        xywh = (box.left, box.top, box.width, box.height)
        if all(iou(xywh, (k.left, k.top, k.width, k.height)) < iou_threshold for k in kept):
            kept.append(box)
            if len(kept) >= limit:
                break
    return kept


def _score(rgb: np.ndarray, mask: np.ndarray, y0: int, y1: int, x0: int, x1: int) -> float:
    """Contrast of the segment's colour against a ring around its box, times how much of the box it fills."""
    h, w = mask.shape
    pad_y, pad_x = max(1, (y1 - y0) // 4), max(1, (x1 - x0) // 4)
    ring = np.zeros_like(mask)
    ring[max(0, y0 - pad_y) : min(h, y1 + pad_y), max(0, x0 - pad_x) : min(w, x1 + pad_x)] = True
    ring[y0:y1, x0:x1] = False
    if not ring.any():  # the box is the whole image: nothing to stand out from
        return 0.0
    inside = rgb[mask].mean(0)
    outside = rgb[ring].mean(0)
    contrast = float(np.sqrt(((inside - outside) ** 2).sum()) / np.sqrt(3))
    fill = float(mask[y0:y1, x0:x1].mean())
    return contrast * (0.5 + 0.5 * fill)


def _segments(labels: np.ndarray) -> list[np.ndarray]:
    out = []
    for value in np.unique(labels):
        comp, n = ndimage.label(ndimage.binary_opening(labels == value))
        out += [comp == i for i in range(1, n + 1)]
    return out


def _foreground(rgb: np.ndarray) -> np.ndarray:
    """Pixels far (in colour) from the image's border: the photographer's subject, usually."""
    border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]])
    distance = np.sqrt(((rgb - np.median(border, axis=0)) ** 2).sum(-1))
    return np.asarray(ndimage.binary_opening(distance > max(0.15, float(np.percentile(distance, 60)))))


def propose(image: PILImage.Image, *, limit: int = 20, seed: int = 0) -> list[Box]:
    """Up to ``limit`` class-agnostic boxes, most object-like first."""
    rgb = _small(image)
    h, w = rgb.shape[:2]
    rng = np.random.default_rng(seed)
    pixels = rgb.reshape(-1, 3)
    masks: list[np.ndarray] = []
    for k in (3, 5, 8):
        segments = [m for m in _segments(_kmeans(pixels, k, rng).reshape(h, w)) if m.mean() >= MIN_AREA / 4]
        masks += segments
        grown = [ndimage.binary_dilation(m, iterations=2) for m in segments]
        for i, a in enumerate(segments):  # pairs of touching segments: an object of two colours
            for j in range(i + 1, len(segments)):
                if (grown[i] & segments[j]).any():
                    masks.append(a | segments[j])
    fg = _foreground(rgb)
    comp, n = ndimage.label(fg)
    masks += [comp == i for i in range(1, n + 1)] + [fg]
    boxes = []
    for mask in masks:
        ys, xs = np.nonzero(mask)
        if not len(ys):
            continue
        y0, y1, x0, x1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
        area = (y1 - y0) * (x1 - x0) / (h * w)
        if not MIN_AREA <= area <= MAX_AREA:
            continue
        score = _score(rgb, mask, y0, y1, x0, x1) * (0.5 + 0.5 * area**0.5)  # photos frame their subject large
        boxes.append(Box(min(1.0, score), x0 / w, y0 / h, (x1 - x0) / w, (y1 - y0) / h))
    return nms(boxes, iou_threshold=0.6, limit=limit)
