"""Builders for training tests: projects with real, uploaded images (through projects.services.image_upload)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tests.factories import make_image_bytes, make_project, make_tag

_counter = [0]


def add_image(project: Any, *, tags: Sequence[Any] = (), regions: Sequence[dict[str, Any]] = (),
              data: bytes | None = None) -> Any:
    """Upload one real image (a distinct colour each time unless ``data`` is given)."""
    from projects.services import image_upload

    if data is None:
        _counter[0] += 1
        n = _counter[0]
        data = make_image_bytes(size=(48, 40), color=(n * 37 % 256, n * 91 % 256, (n * 13 + n // 7) % 256))
    result = image_upload(project=project, data=data, filename="x.png", tags=[t.id for t in tags], regions=regions)
    assert result.image is not None, result.message
    return result.image


def tagged_project(owner: Any, *, tags: Sequence[str] = ("Hemlock", "Cherry"), per_tag: int = 5, **fields: Any) -> Any:
    """A classification project with ``per_tag`` images for each tag."""
    project = make_project(owner, **fields)
    for name in tags:
        tag = make_tag(project, name)
        for _ in range(per_tag):
            add_image(project, tags=[tag])
    return project


def dataset_project(owner: Any, folder: Path, *, name: str = "Quickstart", limit: int | None = None,
                    **fields: Any) -> Any:
    """A project holding the real images of one ../shared/datasets manifest (classification)."""
    import json

    manifest = json.loads((folder / "manifest.json").read_text())
    project = make_project(owner, name=name, **fields)
    tags = {t: make_tag(project, t) for t in manifest["tags"]}
    items = list(manifest["images"].items())[:limit]
    for rel, info in items:
        add_image(project, tags=[tags[t] for t in info.get("tags", ())], data=(folder / rel).read_bytes())
    return project
