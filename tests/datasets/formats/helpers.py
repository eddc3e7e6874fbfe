"""Builders for the dataset-format tests: projects filled through the real upload service, zips, read-backs."""

from __future__ import annotations

import hashlib
import io
import zipfile
from typing import Any

from PIL import Image as PILImage

from tests.factories import make_image_bytes, make_project


def zip_of(files: dict[str, bytes | str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data.encode() if isinstance(data, str) else data)
    return buf.getvalue()


def png(n: int, size: tuple[int, int] = (40, 30)) -> bytes:
    """A distinct small PNG per ``n``."""
    return make_image_bytes(size, color=(n * 37 % 256, n * 91 % 256, (n * 13 + 50) % 256))


def exif_jpeg(raw_size: tuple[int, int], orientation: int, color: tuple[int, int, int] = (10, 200, 30)) -> bytes:
    """A JPEG whose stored pixels are ``raw_size`` and whose EXIF turns it (6: shown turned 90° clockwise)."""
    img = PILImage.new("RGB", raw_size, color)
    exif = img.getexif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    img.save(buf, format="JPEG", exif=exif)
    return buf.getvalue()


def filled_project(owner: Any, *, detection: bool, multilabel: bool = False, name: str = "Source") -> Any:
    """A project with tags whose names have spaces and Unicode, images named likewise, boxes at the edges."""
    from projects.models import Project
    from projects.services import image_upload, tag_create

    fields: dict[str, Any] = {"name": name}
    if detection:
        fields["project_type"] = Project.ProjectType.DETECTION
    if multilabel:
        fields["classification_type"] = Project.ClassificationType.MULTILABEL
    project = make_project(owner, **fields)
    a = tag_create(project=project, name="red fox")
    b = tag_create(project=project, name="Élan 鹿")
    tag_create(project=project, name="unused")
    if detection:
        uploads = [
            ("fox 1.png", png(1), [(a, 0.1, 0.2, 0.3, 0.4), (b, 0.5, 0.5, 0.5, 0.5)]),
            ("çà et là.png", png(2, (33, 47)), [(a, 0.0, 0.0, 1.0, 1.0)]),
            ("third.png", png(3), [(b, 1 / 3, 1 / 7, 0.123456789, 0.2)]),
            ("empty.png", png(4), []),
            ("phone photo.jpg", exif_jpeg((40, 20), 6), [(b, 0.0, 0.0, 1.0, 0.25)]),  # shown 20×40 px
        ]
        for filename, data, boxes in uploads:
            regions = [{"tag": t, "left": x, "top": y, "width": w, "height": h} for t, x, y, w, h in boxes]
            assert image_upload(project=project, data=data, filename=filename, regions=regions).status == "OK"
    else:
        uploads2 = [("fox 1.png", png(1), [a]), ("çà et là.png", png(2), [b]), ("third.png", png(3), [a]),
                    ("empty.png", png(4), [])]
        if multilabel:
            uploads2.append(("both.png", png(5), [a, b]))
        for filename, data, tags in uploads2:
            result = image_upload(project=project, data=data, filename=filename, tags=[t.id for t in tags])
            assert result.status == "OK", result.message
    return project


def contents(project: Any) -> dict[str, tuple[frozenset[str], list[tuple[Any, ...]]]]:
    """sha256 of each image's bytes -> (its tag names, its boxes sorted), read from the database and storage."""
    from labeling.models import Region
    from projects.models import Image

    out = {}
    for image in Image.objects.filter(project=project).prefetch_related("tags"):
        with image.file.open("rb") as f:
            sha = hashlib.sha256(f.read()).hexdigest()
        boxes = sorted((r.tag.name, r.left, r.top, r.width, r.height)
                       for r in Region.objects.filter(image=image).select_related("tag"))
        out[sha] = (frozenset(t.name for t in image.tags.all()), boxes)
    return out


def assert_same(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert a.keys() == b.keys()
    for sha, (tags, boxes) in a.items():
        tags2, boxes2 = b[sha]
        assert tags == tags2
        assert len(boxes) == len(boxes2)
        for x, y in zip(boxes, boxes2, strict=True):
            assert x[0] == y[0]
            assert all(abs(p - q) <= 1e-6 for p, q in zip(x[1:], y[1:], strict=True)), (x, y)
