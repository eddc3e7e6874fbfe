"""Image decoding shared by training, prediction and export: any source -> RGB uint8 array."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from training.ml.errors import UnreadableImage

ImageSource = Image.Image | bytes | str | Path

# JPEGs much larger than the model input are decoded at a reduced DCT scale (PIL's draft mode):
# several times faster on phone photos and the same rule runs in predict.py of every export.
DRAFT_FACTOR = 2


def load_image(src: ImageSource, *, image_size: int | None = None) -> Image.Image:
    """Open an image as RGB, honouring EXIF orientation.

    Args:
        src: a PIL image, encoded bytes, or a file path.
        image_size: model input size; big JPEGs are decoded no smaller than ``DRAFT_FACTOR * image_size``.

    Raises:
        UnreadableImage: missing file or bytes Pillow cannot decode.
    """
    name = src if isinstance(src, (str, Path)) else "<bytes>"
    try:
        if isinstance(src, Image.Image):
            im = src
        else:
            im = Image.open(io.BytesIO(src) if isinstance(src, (bytes, bytearray)) else src)
            if image_size and im.format == "JPEG":
                im.draft("RGB", (DRAFT_FACTOR * image_size, DRAFT_FACTOR * image_size))
            im.load()
        im = ImageOps.exif_transpose(im)
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


def load_array(src: ImageSource, *, image_size: int | None = None) -> np.ndarray:
    """RGB uint8 array (H, W, 3) of an image (see :func:`load_image`)."""
    return np.ascontiguousarray(np.asarray(load_image(src, image_size=image_size), dtype=np.uint8))


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
