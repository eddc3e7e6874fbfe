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


def completed_iteration(project: Any, *, owner: Any, publish_name: str | None = None) -> Any:
    """A Completed classification iteration of a ``tagged_project`` (Hemlock, Cherry, ≥ 5 images each) without
    training: stored metrics as the engine writes them (4 validation images per tag, one of each confused)."""
    from django.utils import timezone

    from training.ml.metrics import compute_metrics
    from training.models import Iteration
    from training.services import iteration_publish, iteration_queue

    iteration = iteration_queue(project=project, requested_by=owner, force=True)
    images = {t.name: [str(i.id) for i in t.images.order_by("id")] for t in project.tags.all()}
    vps = []
    for true, other in (("Hemlock", "Cherry"), ("Cherry", "Hemlock")):
        for n, image_id in enumerate(images[true][:4]):
            p = [0.9, 0.8, 0.6, 0.3][n]
            vps.append({"id": image_id, "tags": [true], "boxes": [],
                        "predictions": [{"tag": true, "probability": p, "box": None},
                                        {"tag": other, "probability": 1 - p, "box": None}]})
    tags = ["Cherry", "Hemlock"]
    metrics = {"task": "classification", "tags": tags, "threshold": 0.5, "iou_threshold": 0.5,
               **compute_metrics("classification", tags, vps),
               "split": {"method": "holdout", "seed": 0, "k": 0, "train_ids": ["a"] * 12,
                         "val_ids": [v["id"] for v in vps]},
               "validation_predictions": vps, "backbone": "lite0", "image_size": 224, "mode": "quick",
               "train_seconds": 2.5, "notes": []}
    now = timezone.now()
    Iteration.objects.filter(id=iteration.id).update(status=Iteration.Status.COMPLETED, metrics=metrics,
                                                     started=now, finished=now, progress=1.0)
    iteration.refresh_from_db()
    if publish_name:
        iteration = iteration_publish(iteration=iteration, publish_name=publish_name)
    return iteration
