"""Same data, same seed, same metrics: through REAL worker processes, across projects and upload orders.

Two projects hold the same images, uploaded in opposite orders (so their database ids and row order differ);
one worker process trains the first project's classification and detection, then a fresh worker process trains
the second's. Every metric must be equal, exactly: the split, per-tag precision/recall/AP, every validation
prediction's probability and box. Only the wall-clock time, the embedding cache's misses and the image ids
(mapped through the content hash) may differ.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from projects.domains import DEFAULT_DETECTION_DOMAIN
from tests.factories import DATASETS, make_project, make_tag
from tests.training.builders import add_image
from tests.worker import celery_worker, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

QUICKSTART = DATASETS / "azure-quickstart"
DETECTION_IMAGES_PER_TAG = 2  # two folds (and the final training): the detector's steps do not shrink with images
MIN_BOXES = 2


def _project(owner: Any, *, task: str, name: str, reverse: bool) -> Any:
    """A project of the quickstart images of ``task``; ``reverse`` uploads them in the opposite order."""
    folder = QUICKSTART / task
    manifest = json.loads((folder / "manifest.json").read_text())
    detection = task == "detection"
    fields = {"project_type": "detection", "domain_id": DEFAULT_DETECTION_DOMAIN} if detection else {}
    project = make_project(owner, name=name, **fields)
    tags = {t: make_tag(project, t) for t in manifest["tags"]}
    items = list(manifest["images"].items())
    if detection:  # a few images of each tag keep the two detection trainings short
        per_tag = [[i for i in items if i[0].startswith(f"{t}/")][:DETECTION_IMAGES_PER_TAG] for t in manifest["tags"]]
        items = [i for group in per_tag for i in group]
    for rel, info in (items[::-1] if reverse else items):
        data = (folder / rel).read_bytes()
        if detection:
            regions = [{**{k: r[k] for k in ("left", "top", "width", "height")}, "tag": tags[r["tag"]].id}
                       for r in info["regions"]]
            add_image(project, regions=regions, data=data)
        else:
            add_image(project, tags=[tags[t] for t in info["tags"]], data=data)
    return project


def _train(projects: list[Any], *, data_dir: Path, hostname: str) -> list[dict[str, Any]]:
    """Train each project's first iteration in one fresh worker process; their metrics, ids mapped to content."""
    from projects.models import Image
    from training.services import iteration_queue

    out = []
    with celery_worker(data_dir=data_dir, hostname=hostname, env={"TAGSIGHT_MIN_BOXES_PER_TAG": str(MIN_BOXES)}) as w:
        for project in projects:
            iteration = iteration_queue(project=project, requested_by=project.created_by)

            def done(it: Any = iteration) -> bool:
                it.refresh_from_db()
                return it.status != "Training"

            wait_for(done, timeout=900, interval=0.5, describe=lambda: w.log()[-3000:])
            assert iteration.status == "Completed", (iteration.status, iteration.error, w.log()[-3000:])
            sha = {str(i): s for i, s in Image.objects.filter(project=project).values_list("id", "sha256")}
            out.append(_by_content(iteration.metrics, sha))
    return out


def _by_content(metrics: dict[str, Any], sha: dict[str, str]) -> dict[str, Any]:
    """The metrics without wall-clock time and the embedding cache's misses (the second worker finds the first's
    embeddings, unless an earlier test already filled the shared cache), every image id replaced by the image's
    content hash."""
    text = json.dumps({k: v for k, v in metrics.items() if k not in ("train_seconds", "embedded_images")},
                      sort_keys=True)
    for image_id, digest in sha.items():
        text = text.replace(image_id, digest)
    out = json.loads(text)
    out["split"]["val_ids"] = sorted(out["split"]["val_ids"])  # listed in id order, and ids differ
    return out


def test_the_same_data_trains_to_the_same_metrics_in_two_worker_processes(owner, tmp_path: Path, settings) -> None:  # type: ignore[no-untyped-def]
    settings.TAGSIGHT_MIN_BOXES_PER_TAG = MIN_BOXES
    first = [_project(owner, task="classification", name="First", reverse=False),
             _project(owner, task="detection", name="First boxes", reverse=False)]
    second = [_project(owner, task="classification", name="Second", reverse=True),
              _project(owner, task="detection", name="Second boxes", reverse=True)]
    views = Path(settings.DATA_DIR) / "cache" / "embeddings" / "detection-views"  # the workers' cache
    a = _train(first, data_dir=tmp_path, hostname="first")
    # The first worker kept the detection views for later trainings; the second computes its own (so that the two
    # processes' computations are compared), which must be the same views under the same names. (The shared cache
    # may also hold other tests' views: the comparison is over those the second worker wrote.)
    kept = Path(shutil.move(views, tmp_path / "first-views"))
    b = _train(second, data_dir=tmp_path, hostname="second")
    for one, other in zip(a, b, strict=True):
        assert one["split"]["val_ids"] and one["validation_predictions"]
        assert one == other
    names = sorted(str(p.relative_to(views)) for p in views.rglob("*.npz"))
    assert len(names) == 4 * 8  # 4 photos, 8 views each
    for name in names:
        with np.load(kept / name) as x, np.load(views / name) as y:
            assert x.files == y.files and all(np.array_equal(x[f], y[f]) for f in x.files), name
