"""Pillow helpers for uploads: verify, orient, and render thumbnail and display sizes (no Django here).

``read_header`` is the one image check (format, bytes, sides) for every door an image comes in by: uploads
(``render`` starts with it) and predictions (which read only the header on the request path).

Speed matters (the issue asks >= 30 real-size JPEGs/s on 2 cores), so every image is decoded once:
a JPEG that needs no rotation is decoded at a reduced DCT scale (``Image.draft``) just large enough
for the largest rendition we must produce, and its original bytes are kept as they came. The decode
still reads the whole entropy stream, so truncated files are caught on the fast path too.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from struct import error as struct_error  # some plugins raise it on short reads

from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

# Pillow format -> (content type, file extension). MPO is what phones write: a JPEG with extra frames.
FORMATS: dict[str, tuple[str, str]] = {
    "JPEG": ("image/jpeg", "jpg"),
    "MPO": ("image/jpeg", "jpg"),
    "PNG": ("image/png", "png"),
    "BMP": ("image/bmp", "bmp"),
    "GIF": ("image/gif", "gif"),
    "WEBP": ("image/webp", "webp"),
}
# MPO has no opener of its own: the JPEG plugin returns it.
_OPENERS = ["JPEG", "PNG", "BMP", "GIF", "WEBP"]
# Formats every browser shows, so a small enough original can double as the display rendition.
_BROWSER_FORMATS = {"JPEG", "MPO", "PNG", "WEBP"}
_ROTATING_ORIENTATIONS = {2, 3, 4, 5, 6, 7, 8}


def megabytes(size: int) -> str:
    """A byte limit as pages and error messages word it ("6 MB")."""
    return f"{size / 2**20:g} MB"


def allow_sides(max_side: int) -> None:
    """Raise Pillow's decompression-bomb guard (process-wide) so an image within ``max_side`` on each side is never
    refused or warned about as a bomb: the side limit is the one stated to users. Never lowers it."""
    if Image.MAX_IMAGE_PIXELS is not None:
        Image.MAX_IMAGE_PIXELS = max(Image.MAX_IMAGE_PIXELS, max_side * max_side)


class ImageRejected(Exception):
    """The upload is not an image we accept; ``status`` is Azure's ImageCreateStatus."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class ImageHeader:
    """What the header says: format, how to store and serve it, and its size as shown (EXIF rotation applied)."""

    format: str
    content_type: str
    extension: str
    width: int
    height: int
    orientation: int


@dataclass(frozen=True)
class Renditions:
    """What to store for one upload. ``original`` None: keep the uploaded bytes; ``display`` None: reuse original."""

    format: str
    content_type: str
    extension: str
    width: int
    height: int
    original: bytes | None
    display: bytes | None
    thumbnail: bytes


def _open(data: bytes) -> Image.Image:
    try:
        return Image.open(io.BytesIO(data), formats=_OPENERS)
    except Image.DecompressionBombError as exc:
        raise ImageRejected("ErrorImageDimensions", f"Rejected as a decompression bomb: {exc}") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, IndexError, struct_error) as exc:
        raise ImageRejected(
            "ErrorImageFormat", "Not a supported image (JPEG, PNG, BMP, GIF or WebP), or the file is corrupt."
        ) from exc


def _load(img: Image.Image) -> None:
    """Decode the pixels; truncated or corrupt data raises ImageRejected."""
    try:
        img.load()
    except Image.DecompressionBombError as exc:
        raise ImageRejected("ErrorImageDimensions", f"Rejected as a decompression bomb: {exc}") from exc
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, struct_error) as exc:
        raise ImageRejected("ErrorImageFormat", "The image is truncated or corrupt.") from exc


def _orientation(img: Image.Image) -> int:
    try:
        value = img.getexif().get(ExifTags.Base.Orientation, 1)
    except Exception:  # unreadable EXIF is no reason to reject the picture itself
        return 1
    return value if isinstance(value, int) else 1


def _to_rgb(img: Image.Image) -> Image.Image:
    """RGB for JPEG renditions: transparency on white, 16-bit greyscale scaled down."""
    if img.mode == "RGB":
        return img
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        return img.convert("I").point(lambda v: v * (1 / 256)).convert("L").convert("RGB")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return img.convert("RGB")


def _jpeg(img: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


# Rows converted at a time when a big decoded image is shrunk for its renditions (bounds the extra memory).
_STRIP_PIXELS = 4 * 1024 * 1024


def _rgb_reduced(img: Image.Image, side: int) -> Image.Image:
    """RGB, box-averaged by a whole factor down to no less than 2 x ``side`` (the renditions are then fitted with
    a good filter). Done a strip of rows at a time, so a 10,240 px PNG needs little more than its own decode:
    converting it whole (transparency on white, palette to RGB) would take several full-size copies.
    """
    width, height = img.size
    factor = max(width, height) // (2 * side)
    if factor < 2:
        return _to_rgb(img)
    rows = max(1, _STRIP_PIXELS // (width * factor)) * factor  # a multiple of factor: strips reduce seamlessly
    out = Image.new("RGB", (-(-width // factor), -(-height // factor)))
    for top in range(0, height, rows):
        strip = _to_rgb(img.crop((0, top, width, min(top + rows, height))))
        out.paste(strip.reduce(factor), (0, top // factor))
    return out


def _fit(img: Image.Image, side: int) -> Image.Image:
    """A copy that fits in side x side (never upscaled); reduce() first, then a good filter."""
    out = img.copy()
    out.thumbnail((side, side), Image.Resampling.BICUBIC, reducing_gap=2.0)
    return out


def _encode_original(img: Image.Image, fmt: str, source: Image.Image) -> bytes:
    """Re-encode a rotated original in its own format, keeping the colour profile and the rest of EXIF."""
    buf = io.BytesIO()
    params: dict[str, object] = {}
    if icc := source.info.get("icc_profile"):
        params["icc_profile"] = icc
    if fmt in ("JPEG", "MPO"):
        img = img if img.mode in ("RGB", "L", "CMYK") else _to_rgb(img)
        img.save(buf, format="JPEG", quality=95, exif=img.getexif(), **params)
    elif fmt == "WEBP":
        img.save(buf, format="WEBP", quality=95, exif=img.getexif(), **params)
    elif fmt == "PNG":
        img.save(buf, format="PNG", exif=img.getexif(), **params)
    else:
        img.save(buf, format=fmt, **params)
    return buf.getvalue()


def _checked_open(data: bytes, *, max_side: int, max_bytes: int | None) -> tuple[Image.Image, ImageHeader]:
    if not data:
        raise ImageRejected("ErrorImageFormat", "The file is empty.")
    if max_bytes is not None and len(data) > max_bytes:
        raise ImageRejected("ErrorImageSize", f"The file is larger than the {megabytes(max_bytes)} limit.")
    img = _open(data)
    fmt = img.format or ""
    width, height = img.size
    if width < 1 or height < 1 or max(width, height) > max_side:
        raise ImageRejected(
            "ErrorImageDimensions", f"The image is {width}x{height} px; each side must be at most {max_side} px."
        )
    if Image.MAX_IMAGE_PIXELS and width * height > Image.MAX_IMAGE_PIXELS:  # see allow_sides
        raise ImageRejected("ErrorImageDimensions", f"Rejected as a decompression bomb ({width}x{height} px).")
    orientation = _orientation(img)
    if orientation in (5, 6, 7, 8):  # shown (and predicted) turned a quarter
        width, height = height, width
    return img, ImageHeader(fmt, *FORMATS[fmt], width, height, orientation)


def read_header(data: bytes, *, max_side: int, max_bytes: int | None = None) -> ImageHeader:
    """Check an image from its header alone: not empty, at most ``max_bytes``, a format we take, sides at most
    ``max_side``. Raises ImageRejected with Azure's ImageCreateStatus and a reason. Pixels are not decoded."""
    return _checked_open(data, max_side=max_side, max_bytes=max_bytes)[1]


def render(
    data: bytes, *, max_side: int, thumbnail_size: int, display_size: int, max_bytes: int | None = None
) -> Renditions:
    """Verify an upload (``read_header``, then a full decode) and produce what to store. Raises ImageRejected."""
    img, header = _checked_open(data, max_side=max_side, max_bytes=max_bytes)
    fmt, content_type, extension = header.format, header.content_type, header.extension
    width, height = img.size
    rotated = header.orientation in _ROTATING_ORIENTATIONS
    fits_display = max(width, height) <= display_size

    if fmt in ("JPEG", "MPO") and not rotated:
        # Fast path: one reduced-scale decode, original bytes kept as they are.
        img.draft("RGB", (thumbnail_size, thumbnail_size) if fits_display else (display_size, display_size))
        _load(img)
        rgb = _to_rgb(img)
        display = None if fits_display else _jpeg(_fit(rgb, display_size), 90)
        base = rgb if display is None else _fit(rgb, display_size)
        return Renditions(
            fmt, content_type, extension, width, height, None, display, _jpeg(_fit(base, thumbnail_size), 85)
        )

    _load(img)  # GIF: the first frame, which is what Image.open positions on
    oriented = ImageOps.exif_transpose(img) if rotated else img
    width, height = oriented.size
    original = _encode_original(oriented, fmt, img) if rotated else None
    rgb = _rgb_reduced(oriented, display_size)
    fits_display = max(width, height) <= display_size
    display_img = rgb if fits_display else _fit(rgb, display_size)
    display = None if fits_display and fmt in _BROWSER_FORMATS else _jpeg(display_img, 90)
    return Renditions(
        fmt, content_type, extension, width, height, original, display, _jpeg(_fit(display_img, thumbnail_size), 85)
    )
