"""Detection data: image loading, box validation, the fixed-size resize and box-aware augmentation.

Images are stretched (no letterbox) to a fixed square ``image_size`` with an anti-aliased bilinear
resize. Training views use torch's fast uint8 kernel; the Predictor and the exported graph run the
same resize as ONNX ``Resize(antialias=1)`` in onnxruntime (the two agree to ~2 grey levels).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from training.ml import errors
from training.ml.images import load_array
from training.ml.manifest import Box, Manifest, Sample

PAD_VALUE = 128  # grey canvas (≈ 0 after the backbone's [-1, 1] normalisation)
BOX_TOLERANCE = 1e-3  # normalised overshoot tolerated (and clipped) before a box is rejected

ImageInput = Image.Image | bytes | str | Path


def load_rgb(image: ImageInput, image_size: int | None = None) -> Tensor:
    """Decode an image (PIL, bytes or path) to a uint8 (3, H, W) RGB tensor (see ``images.load_image``:
    EXIF rotation, transparency on white, big JPEGs decoded at a reduced scale >= 2 x ``image_size``).

    Raises:
        errors.UnreadableImage: missing file or undecodable bytes.
    """
    return torch.from_numpy(np.array(load_array(image, image_size=image_size))).permute(2, 0, 1).contiguous()


def resize_uint8(image: Tensor, height: int, width: int) -> Tensor:
    """Anti-aliased bilinear resize of a uint8 (3, h, w) image (torch's fast uint8 kernel)."""
    x = image.unsqueeze(0).contiguous(memory_format=torch.channels_last)
    out = F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False, antialias=True)
    return out[0].contiguous()


def preprocess(image: Tensor, image_size: int) -> Tensor:
    """uint8 (H, W, 3) RGB -> normalised float (1, 3, S, S) in [-1, 1] (mean = std = 0.5).

    This is the body traced into ONNX (``Resize`` with antialias); eager torch is slow here, use
    onnxruntime for real work.
    """
    x = image.permute(2, 0, 1).unsqueeze(0).float()
    x = F.interpolate(x, size=(image_size, image_size), mode="bilinear", align_corners=False, antialias=True)
    return x / 127.5 - 1.0


def normalise(views: Tensor) -> Tensor:
    """uint8 (N, 3, S, S) views -> float in [-1, 1]."""
    return views.float() / 127.5 - 1.0


@dataclass(frozen=True)
class Target:
    """One image's boxes: xyxy normalised (G, 4) float32 and class indices (G,) int64."""

    boxes: Tensor
    labels: Tensor


def sample_target(sample: Sample, tags: tuple[str, ...]) -> Target:
    """Validate a sample's boxes and convert them to tensors.

    Raises:
        errors.InvalidRegion: box outside the image, of zero size, or with an unknown tag.
    """
    index = {t: i for i, t in enumerate(tags)}
    rows, labels = [], []
    for b in sample.boxes:
        _check_box(sample, b, index)
        x0, y0 = max(b.left, 0.0), max(b.top, 0.0)
        x1, y1 = min(b.left + b.width, 1.0), min(b.top + b.height, 1.0)
        rows.append([x0, y0, x1, y1])
        labels.append(index[b.tag])
    return Target(
        torch.tensor(rows, dtype=torch.float32).reshape(-1, 4), torch.tensor(labels, dtype=torch.long).reshape(-1)
    )


def _check_box(sample: Sample, b: Box, index: dict[str, int]) -> None:
    values = (b.left, b.top, b.width, b.height)
    where = f"image {sample.id!r}, tag {b.tag!r}"
    if b.tag not in index:
        raise errors.InvalidRegion(f"Box with unknown tag in {where}.")
    if not all(math.isfinite(v) for v in values):
        raise errors.InvalidRegion(f"Box with a non-finite coordinate in {where}.")
    if b.width <= 0 or b.height <= 0:
        raise errors.InvalidRegion(f"Box of zero size in {where}.")
    tol = BOX_TOLERANCE
    if b.left < -tol or b.top < -tol or b.left + b.width > 1 + tol or b.top + b.height > 1 + tol:
        raise errors.InvalidRegion(f"Box outside the image in {where}: {values}.")
    if min(b.left + b.width, 1.0) - max(b.left, 0.0) <= 0 or min(b.top + b.height, 1.0) - max(b.top, 0.0) <= 0:
        raise errors.InvalidRegion(f"Box of zero size inside the image in {where}.")


def validate_manifest_boxes(manifest: Manifest) -> list[Target]:
    """Targets for every sample, raising InvalidRegion on the first bad box."""
    return [sample_target(s, manifest.tags) for s in manifest.samples]


def full_view(image: Tensor, target: Target, image_size: int) -> tuple[Tensor, Tensor, Tensor]:
    """The un-augmented view (what the Predictor sees): uint8 (3, S, S), boxes in view pixels, labels."""
    return resize_uint8(image, image_size, image_size), target.boxes * image_size, target.labels


def random_view(
    image: Tensor,
    target: Target,
    image_size: int,
    rng: np.random.Generator,
    *,
    zoom: tuple[float, float] = (0.55, 1.5),
    min_visible: float = 0.7,
) -> tuple[Tensor, Tensor, Tensor]:
    """A box-aware augmented view of fixed size: scale jitter (zoom in = crop, zoom out = padding),
    aspect jitter, horizontal flip and brightness/contrast jitter.

    A crop window is resampled (up to 10 times) until every box is either at least ``min_visible``
    inside it or entirely outside, so no object is left half-labelled; boxes are clipped to the view.

    Args:
        image: uint8 (3, H, W). target: normalised boxes and labels.
        image_size: output side S. rng: the seeded generator driving every random choice.

    Returns:
        view uint8 (3, S, S), boxes (M, 4) xyxy in view pixels, labels (M,).
    """
    _, h, w = image.shape
    boxes = target.boxes
    window = (0.0, 0.0, 1.0, 1.0)
    for _ in range(10):
        z = math.exp(rng.uniform(math.log(zoom[0]), math.log(zoom[1])))
        a = math.exp(rng.uniform(-0.2, 0.2))
        ww, wh = z * math.sqrt(a), z / math.sqrt(a)
        x0 = rng.uniform(0.0, 1.0 - ww) if ww <= 1 else rng.uniform(1.0 - ww, 0.0)
        y0 = rng.uniform(0.0, 1.0 - wh) if wh <= 1 else rng.uniform(1.0 - wh, 0.0)
        cand = (x0, y0, x0 + ww, y0 + wh)
        if _window_ok(boxes, cand, min_visible):
            window = cand
            break
    wx0, wy0, wx1, wy1 = window
    # Source crop (image pixels, integers) and where it lands in the view (view pixels, integers).
    sx0, sy0 = max(0, math.floor(wx0 * w)), max(0, math.floor(wy0 * h))
    sx1, sy1 = min(w, math.ceil(wx1 * w)), min(h, math.ceil(wy1 * h))
    scale_x = image_size / ((wx1 - wx0) * w)
    scale_y = image_size / ((wy1 - wy0) * h)
    dx0 = min(image_size - 1, max(0, round((sx0 - wx0 * w) * scale_x)))
    dy0 = min(image_size - 1, max(0, round((sy0 - wy0 * h) * scale_y)))
    dx1 = min(image_size, max(dx0 + 1, round((sx1 - wx0 * w) * scale_x)))
    dy1 = min(image_size, max(dy0 + 1, round((sy1 - wy0 * h) * scale_y)))
    patch = resize_uint8(image[:, sy0:sy1, sx0:sx1], dy1 - dy0, dx1 - dx0).float()
    # Photometric jitter on the patch only (the padding stays neutral grey).
    contrast = rng.uniform(0.75, 1.25)
    brightness = rng.uniform(-25.0, 25.0)
    patch = (patch - patch.mean()) * contrast + patch.mean() + brightness
    view = torch.full((3, image_size, image_size), float(PAD_VALUE))
    view[:, dy0:dy1, dx0:dx1] = patch
    # Exact affine map used for the pixels, applied to the boxes.
    fx = (dx1 - dx0) / (sx1 - sx0)
    fy = (dy1 - dy0) / (sy1 - sy0)
    px = boxes * torch.tensor([w, h, w, h], dtype=torch.float32)
    vb = torch.stack(
        [
            (px[:, 0] - sx0) * fx + dx0,
            (px[:, 1] - sy0) * fy + dy0,
            (px[:, 2] - sx0) * fx + dx0,
            (px[:, 3] - sy0) * fy + dy0,
        ],
        1,
    )
    full_area = (vb[:, 2] - vb[:, 0]) * (vb[:, 3] - vb[:, 1])
    clipped = vb.clamp(0, image_size)
    clipped[:, [0, 2]] = clipped[:, [0, 2]].clamp(dx0, dx1)
    clipped[:, [1, 3]] = clipped[:, [1, 3]].clamp(dy0, dy1)
    area = (clipped[:, 2] - clipped[:, 0]).clamp(min=0) * (clipped[:, 3] - clipped[:, 1]).clamp(min=0)
    keep = (
        (area >= min_visible * full_area.clamp(min=1e-6) - 1e-3)
        & (clipped[:, 2] - clipped[:, 0] >= 2)
        & (clipped[:, 3] - clipped[:, 1] >= 2)
    )
    out_boxes, out_labels = clipped[keep], target.labels[keep]
    if rng.uniform() < 0.5:
        view = view.flip(-1)
        out_boxes = torch.stack(
            [image_size - out_boxes[:, 2], out_boxes[:, 1], image_size - out_boxes[:, 0], out_boxes[:, 3]], 1
        )
    return view.round().clamp(0, 255).to(torch.uint8), out_boxes, out_labels


def _window_ok(boxes: Tensor, window: tuple[float, float, float, float], min_visible: float) -> bool:
    """Every box is at least ``min_visible`` inside the window, or entirely outside it."""
    if boxes.numel() == 0:
        return True
    wx0, wy0, wx1, wy1 = window
    iw = (boxes[:, 2].clamp(max=wx1) - boxes[:, 0].clamp(min=wx0)).clamp(min=0)
    ih = (boxes[:, 3].clamp(max=wy1) - boxes[:, 1].clamp(min=wy0)).clamp(min=0)
    frac = iw * ih / ((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])).clamp(min=1e-9)
    return bool(((frac >= min_visible) | (frac <= 0)).all())
