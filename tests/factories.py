"""Builders for tests: real images made with Pillow, projects, tags."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

from PIL import Image as PILImage

# The shared folder next to the checkout (datasets, the API spec); TAGSIGHT_SHARED_DIR points elsewhere.
SHARED = Path(os.environ.get("TAGSIGHT_SHARED_DIR") or Path(__file__).resolve().parent.parent.parent / "shared")
DATASETS = SHARED / "datasets"


def make_image_bytes(
    size: tuple[int, int] = (64, 48), color: tuple[int, int, int] = (200, 30, 30), fmt: str = "PNG", **save: Any
) -> bytes:
    """A real, small image file's bytes (each distinct colour gives a distinct SHA-256)."""
    buf = io.BytesIO()
    PILImage.new("RGB", size, color).save(buf, format=fmt, **save)
    return buf.getvalue()


def make_project(owner: Any, **fields: Any) -> Any:
    from projects.models import Project

    fields.setdefault("name", "Trees")
    return Project.objects.create(owner=owner, **fields)


def make_tag(project: Any, name: str = "Hemlock", **fields: Any) -> Any:
    from projects.models import Tag

    return Tag.objects.create(project=project, name=name, **fields)
