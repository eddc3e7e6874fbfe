"""Builders for tests: real images made with Pillow, projects, tags."""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
from PIL import Image as PILImage

ROOT = Path(__file__).resolve().parent.parent
# The images the suite needs, in the repository (MIT; tests/data/README.md): azure-quickstart/, raccoon/.
DATASETS = ROOT / "tests" / "data"


def shared_dir() -> Path:
    """The full datasets and the acceptance script: ``shared/`` beside the repository, or $TAGSIGHT_SHARED_DIR."""
    return Path(os.environ.get("TAGSIGHT_SHARED_DIR") or ROOT.parent / "shared")


def shared_path(*parts: str) -> Path:
    """A path under :func:`shared_dir`, for the few tests that need the big sets; call it inside the test.

    Skips the test when the path is absent (a plain clone has no ../shared), or fails it when
    TAGSIGHT_REQUIRE_SHARED=1 (CI, which has the folder)."""
    path = shared_dir().joinpath(*parts)
    if not path.exists():
        reason = f"needs {path} (the shared datasets beside the repository, or set TAGSIGHT_SHARED_DIR)"
        if os.environ.get("TAGSIGHT_REQUIRE_SHARED") == "1":
            pytest.fail(f"TAGSIGHT_REQUIRE_SHARED=1 but the test {reason}", pytrace=False)
        pytest.skip(reason)
    return path


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
    from workspaces.services import personal_workspace_ensure

    fields.setdefault("name", "Trees")
    fields.setdefault("workspace", personal_workspace_ensure(user=owner))
    return Project.objects.create(created_by=owner, **fields)


def make_tag(project: Any, name: str = "Hemlock", **fields: Any) -> Any:
    from projects.models import Tag

    return Tag.objects.create(project=project, name=name, **fields)
