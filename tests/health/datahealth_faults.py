"""A small classification project with injected faults, for the Data Health tests: the Azure quickstart's 10
Hemlock + 10 Japanese Cherry photos (tests/data), 2 of them tagged the other way, and 2 near-duplicates (a copy
resized to 60 %, re-encoded at JPEG quality 70 and with 5 % cropped off)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from PIL import Image as PILImage

from tests.factories import DATASETS, make_project, make_tag
from tests.training.builders import add_image

QUICKSTART = DATASETS / "azure-quickstart" / "classification"


@dataclass
class FaultyProject:
    project: Any
    hemlock: Any
    cherry: Any
    flipped: list[Any]  # images carrying the wrong tag
    copies: list[tuple[Any, Any]]  # (original, its near-duplicate)


def near_copy(data: bytes) -> bytes:
    image = PILImage.open(io.BytesIO(data)).convert("RGB")
    w, h = image.size
    image = image.crop((int(w * 0.05), 0, w, h)).resize((int(w * 0.95 * 0.6), int(h * 0.6)))
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=70)
    return buf.getvalue()


def faulty_project(owner: Any, **fields: Any) -> FaultyProject:
    project = make_project(owner, name=fields.pop("name", "Trees with faults"), **fields)
    hemlock, cherry = make_tag(project, "Hemlock"), make_tag(project, "Japanese Cherry")
    flipped, copies = [], []
    for folder, tag, other in (("Hemlock", hemlock, cherry), ("Japanese_Cherry", cherry, hemlock)):
        files = sorted((QUICKSTART / folder).glob("*.jpg"))
        for n, path in enumerate(files):
            data = path.read_bytes()
            wrong = n == 3
            image = add_image(project, tags=[other if wrong else tag], data=data)
            if wrong:
                flipped.append(image)
            if n == 6:
                copies.append((image, add_image(project, tags=[tag], data=near_copy(data))))
    return FaultyProject(project, hemlock, cherry, flipped, copies)
