"""Builders for tests: real images made with Pillow, projects, tags."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path
from typing import Any

from PIL import Image as PILImage

SHARED = Path(__file__).resolve().parent.parent.parent / "shared"
DATASETS = SHARED / "datasets"


def make_image_bytes(
    size: tuple[int, int] = (64, 48), color: tuple[int, int, int] = (200, 30, 30), fmt: str = "PNG", **save: Any
) -> bytes:
    """A real, small image file's bytes (each distinct colour gives a distinct SHA-256)."""
    buf = io.BytesIO()
    PILImage.new("RGB", size, color).save(buf, format=fmt, **save)
    return buf.getvalue()


def make_big_png(width: int, height: int, grey: int = 128) -> bytes:
    """A real greyscale PNG of any size that stays small (identical rows compress away), written row by row so
    that making a 10,000 x 10,000 px one never holds its pixels (Pillow would need them all to save it)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    row = b"\x00" + bytes([grey]) * width  # filter type 0, then one byte a pixel
    packer = zlib.compressobj(9)
    pixels = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale, not interlaced
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def make_project(owner: Any, **fields: Any) -> Any:
    from projects.models import Project

    fields.setdefault("name", "Trees")
    return Project.objects.create(owner=owner, **fields)


def make_tag(project: Any, name: str = "Hemlock", **fields: Any) -> Any:
    from projects.models import Tag

    return Tag.objects.create(project=project, name=name, **fields)
