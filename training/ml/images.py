"""Image decoding shared by training, prediction and export: any source -> RGB uint8 array."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps

from training.ml.errors import UnreadableImage

ImageSource = Image.Image | bytes | str | Path

# JPEGs much larger than the model input are decoded at a reduced DCT scale (PIL's draft mode), no smaller than
# draft_factor x the model's input: several times faster on phone photos, and the same rule runs in predict.py of
# every export. A model records its factor in its metadata ("draft_factor", see :func:`draft_factor`):
# classifiers trained since it was introduced decode at CLASSIFIER_DRAFT_FACTOR, so the graph's antialiased resize
# (a fixed cost of both the fp32 and the int8 model) starts from at most ~2x its input; detectors (whose training
# views zoom into the image) and older classifiers at DRAFT_FACTOR.
DRAFT_FACTOR = 2
CLASSIFIER_DRAFT_FACTOR = 1


def draft_factor(metadata: Mapping[str, Any]) -> int:
    """The JPEG draft factor a model was trained with (its metadata's "draft_factor"; before it: DRAFT_FACTOR)."""
    return int(metadata.get("draft_factor") or DRAFT_FACTOR)


def load_image(src: ImageSource, *, image_size: int | None = None, draft: int = DRAFT_FACTOR) -> Image.Image:
    """Open an image as RGB, honouring EXIF orientation.

    Args:
        src: a PIL image, encoded bytes, or a file path.
        image_size: model input size; big JPEGs are decoded no smaller than ``draft * image_size``.
        draft: the model's draft factor (:func:`draft_factor`).

    Raises:
        UnreadableImage: missing file or bytes Pillow cannot decode.
    """
    name = src if isinstance(src, (str, Path)) else "<bytes>"
    try:
        if isinstance(src, Image.Image):
            im = ImageOps.exif_transpose(src)  # a copy: the caller's image is not changed
        else:
            im = Image.open(io.BytesIO(src) if isinstance(src, (bytes, bytearray)) else src)
            if image_size and im.format == "JPEG":
                im.draft("RGB", (draft * image_size, draft * image_size))
            im.load()
            # Ours alone: turned in place, and an RGB image is returned as decoded. Each copy of a photo costs
            # about as much as 1/10 of decoding it (benchmarks/predict_api.py --stages: decode).
            ImageOps.exif_transpose(im, in_place=True)
            if im.mode == "RGB":
                return im
        if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
            # Cut-outs: composite on white so the transparent background is not black noise.
            rgba = im.convert("RGBA")
            bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            im = Image.alpha_composite(bg, rgba)
        return im.convert("RGB")
    except FileNotFoundError as exc:
        raise UnreadableImage(f"Image not found: {name}") from exc
    except (OSError, ValueError, Image.DecompressionBombError, SyntaxError) as exc:
        raise UnreadableImage(f"Cannot read image {name}: {exc}") from exc


def load_array(src: ImageSource, *, image_size: int | None = None, draft: int = DRAFT_FACTOR) -> np.ndarray:
    """RGB uint8 array (H, W, 3) of an image (see :func:`load_image`)."""
    return np.ascontiguousarray(np.asarray(load_image(src, image_size=image_size, draft=draft), dtype=np.uint8))


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes.

    Raises:
        UnreadableImage: the file is missing or unreadable.
    """
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    except OSError as exc:
        raise UnreadableImage(f"Image not found or unreadable: {path}") from exc
    return h.hexdigest()
