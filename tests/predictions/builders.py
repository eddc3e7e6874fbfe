"""Builders for the prediction tests: the azure-quickstart classifier trained through the real service path."""

from __future__ import annotations

from typing import Any

from tests.factories import DATASETS
from tests.training.builders import dataset_project

QUICKSTART = DATASETS / "azure-quickstart" / "classification"
TEST_IMAGE = DATASETS / "azure-quickstart" / "classification" / "Test" / "test_image.jpg"


def trained_quickstart(owner: Any, *, publish_name: str | None = None) -> tuple[Any, Any]:
    """A classification project with the quickstart's 10 + 10 photos, trained (Quick) in-process.

    Returns (project, iteration)."""
    from training.models import Iteration
    from training.services import iteration_publish, iteration_queue, iteration_run

    project = dataset_project(owner, QUICKSTART, name="Trees")
    iteration = iteration_queue(project=project, requested_by=owner)
    iteration_run(iteration_id=iteration.id)
    iteration = Iteration.objects.get(id=iteration.id)
    assert iteration.status == Iteration.Status.COMPLETED, iteration.error
    if publish_name:
        iteration = iteration_publish(iteration=iteration, publish_name=publish_name)
    return project, iteration


DETECTION = DATASETS / "azure-quickstart" / "detection"
DETECTION_DOMAIN = "da2e3a8a-40a5-4171-82f4-58522f70fbc1"  # General (object detection)


def tiny_fork_detector(owner: Any, tmp_path: Any, *, per_tag: int = 3, domain_id: str = DETECTION_DOMAIN
                       ) -> tuple[Any, Any]:
    """A detection project (forks and scissors, one box each) with a Completed iteration whose model is a tiny
    detector trained in seconds by the engine (a short recipe at 128 px): for the plumbing, not for accuracy.

    The artifact is stored like the worker stores it; the iteration's validation images are the uploaded ones. In a
    compact domain (``domain_id``) its snapshot also lists them with their files and their validation rows carry
    their boxes, as a trained iteration's do (the int8 export calibrates on the one and scores on the other).
    """
    import json
    import uuid
    from pathlib import Path

    from django.core.files.storage import default_storage

    from projects.domains import domain_of
    from tests.factories import make_project, make_tag
    from tests.training.builders import add_image
    from training.ml.config import TrainConfig
    from training.ml.detection import train_detector
    from training.ml.detection.engine import Recipe
    from training.ml.manifest import Box, Manifest, Sample
    from training.models import Iteration

    manifest = json.loads((DETECTION / "manifest.json").read_text())
    project = make_project(owner, name="Forks", project_type="detection", domain_id=uuid.UUID(domain_id))
    tags = {t: make_tag(project, t) for t in manifest["tags"]}
    samples, files = [], []
    for tag in manifest["tags"]:
        for rel in [r for r in manifest["images"] if r.startswith(f"{tag}/")][:per_tag]:
            info = manifest["images"][rel]
            regions = [{**{k: r[k] for k in ("left", "top", "width", "height")}, "tag": tags[r["tag"]].id}
                       for r in info["regions"]]
            image = add_image(project, regions=regions, data=(DETECTION / rel).read_bytes())
            files.append({"id": str(image.id), "file": image.file.name})
            boxes = tuple(Box(r["tag"], r["left"], r["top"], r["width"], r["height"]) for r in info["regions"])
            samples.append(Sample(id=str(image.id), path=str(DETECTION / rel), tags=(tag,), boxes=boxes))
    recipe = Recipe(image_size=128, views_per_image=2, epochs=3, min_steps=0, batch_size=8, lr=3e-3, channels=32,
                    num_convs=1)
    result = train_detector(Manifest(task="detection", tags=tuple(manifest["tags"]), samples=tuple(samples)),
                            TrainConfig(seed=0, image_size=128, kfold=1), Path(tmp_path) / "det", recipe=recipe)
    iteration_id = uuid.uuid4()
    compact = domain_of(domain_id).compact  # type: ignore[union-attr]
    rows = [{"id": s.id, **({"tags": list(s.tags), "boxes": [{"tag": b.tag, "left": b.left, "top": b.top,
                                                              "width": b.width, "height": b.height} for b in s.boxes]}
                            if compact else {})} for s in samples]
    prefix = f"training/iterations/{iteration_id}/artifact"
    root = Path(result.artifact_path)
    for path in sorted(root.rglob("*")):
        if path.is_file():
            with open(path, "rb") as handle:
                default_storage.save(f"{prefix}/{path.relative_to(root).as_posix()}", handle)
    iteration = Iteration.objects.create(
        id=iteration_id, project=project, number=1, name="Iteration 1", status=Iteration.Status.COMPLETED,
        domain_id=project.domain_id, project_type="detection", artifact_path=prefix, artifact_kind="dir",
        snapshot={"tags": [{"id": str(t.id), "name": t.name, "type": t.type} for t in tags.values()],
                  "images": files if compact else []},
        metrics={"validation_predictions": rows}, image_count=len(samples),
    )
    return project, iteration
