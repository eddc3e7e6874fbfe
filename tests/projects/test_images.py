"""projects.images: the one image check (read_header) that uploads and predictions share."""

from __future__ import annotations

import io

import pytest
from PIL import Image as PILImage

from projects.images import ImageRejected, read_header, render
from tests.factories import make_image_bytes


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_header_and_renditions_agree_on_the_shown_size_of_a_rotated_photo(fmt):
    exif = PILImage.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    buf = io.BytesIO()
    PILImage.new("RGB", (40, 20), (10, 200, 10)).save(buf, format=fmt, exif=exif)
    header = read_header(buf.getvalue(), max_side=100)
    out = render(buf.getvalue(), max_side=100, thumbnail_size=16, display_size=32)
    assert (header.width, header.height) == (out.width, out.height) == (20, 40)
    assert (header.content_type, header.extension) == (out.content_type, out.extension)


@pytest.mark.parametrize(
    ("data", "limits", "status"),
    [
        (b"", {}, "ErrorImageFormat"),
        (b"%PDF-1.4 not an image", {}, "ErrorImageFormat"),
        (make_image_bytes(), {"max_bytes": 10}, "ErrorImageSize"),
        (make_image_bytes((101, 5)), {"max_side": 100}, "ErrorImageDimensions"),
    ],
)
def test_header_check_refuses_what_uploads_refuse(data, limits, status):
    limits = {"max_side": 1000, **limits}
    with pytest.raises(ImageRejected) as header:
        read_header(data, **limits)
    with pytest.raises(ImageRejected) as upload:
        render(data, thumbnail_size=16, display_size=32, **limits)
    assert header.value.status == upload.value.status == status
    assert header.value.message == upload.value.message


@pytest.mark.parametrize("mode", ["RGBA", "P", "L", "1"])
def test_big_images_are_shrunk_in_strips_exactly_as_if_converted_whole(mode, monkeypatch):
    from projects import images

    rng = __import__("random").Random(mode)
    img = PILImage.frombytes("RGBA", (97, 61), bytes(rng.randrange(256) for _ in range(97 * 61 * 4)))
    img = img.convert(mode) if mode != "P" else img.convert("RGB").quantize(16)
    whole = images._to_rgb(img).reduce(4)
    monkeypatch.setattr(images, "_STRIP_PIXELS", 97 * 4 * 3)  # 12 rows a strip: 6 strips, the last one short
    strips = images._rgb_reduced(img, 12)
    assert strips.mode == "RGB" and strips.size == whole.size == (25, 16)
    assert strips.tobytes() == whole.tobytes()


def test_pillow_guard_allows_every_image_within_the_side_limit():
    from django.conf import settings

    side = settings.TAGSIGHT_MAX_IMAGE_SIDE
    assert PILImage.MAX_IMAGE_PIXELS >= side * side  # raised by ProjectsConfig.ready
