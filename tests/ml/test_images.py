"""Image decoding for training and prediction (training.ml.images): EXIF orientation is applied, whatever the source,
and a caller's own PIL image is never changed."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from training.ml.images import load_array, load_image

# EXIF orientation -> what a viewer does to the stored pixels (PIL's transposition)
TURNS = {1: None, 3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_270, 8: Image.Transpose.ROTATE_90}


def _png_with_orientation(orientation: int) -> tuple[bytes, np.ndarray]:
    """A lossless 30x20 image carrying an EXIF orientation, and the pixels a viewer shows for it."""
    pixels = np.random.default_rng(orientation).integers(0, 255, (20, 30, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "PNG", exif=exif)
    shown = Image.fromarray(pixels) if TURNS[orientation] is None else Image.fromarray(pixels).transpose(
        TURNS[orientation])
    return buf.getvalue(), np.asarray(shown)


@pytest.mark.parametrize("orientation", sorted(TURNS))
def test_the_exif_orientation_is_applied_to_bytes_files_and_images(orientation: int, tmp_path: Path) -> None:
    data, shown = _png_with_orientation(orientation)
    path = tmp_path / "photo.png"
    path.write_bytes(data)
    for source in (data, path, str(path), Image.open(io.BytesIO(data))):
        array = load_array(source)
        assert array.dtype == np.uint8 and array.flags.c_contiguous
        assert np.array_equal(array, shown), type(source)


def test_a_callers_image_is_left_as_it_was() -> None:
    data, shown = _png_with_orientation(6)
    image = Image.open(io.BytesIO(data))
    image.load()
    before = np.asarray(image).copy()
    loaded = load_image(image)
    assert loaded is not image and np.array_equal(np.asarray(loaded), shown)
    assert np.array_equal(np.asarray(image), before) and image.getexif().get(0x0112) == 6
    rgb = Image.fromarray(before)  # no orientation, already RGB: still a copy of its own
    assert load_image(rgb) is not rgb
