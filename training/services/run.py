"""Run one queued iteration on a worker: fetch its images, call the engine, store the model, record the outcome."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.storage import default_storage
from django.utils import timezone

from projects.domains import domain_of
from projects.models import Tag
from projects.storage import storage_is_local
from training import errors
from training.models import Iteration
from training.services.lifecycle import iteration_finish
from training.storage import artifact_delete, artifact_store

logger = logging.getLogger(__name__)

Status = Iteration.Status
PROGRESS_WRITE_SECONDS = 0.5  # throttle for the worker's progress writes
CANCEL_POLL_SECONDS = 0.5  # throttle for the worker's "was I cancelled?" reads


class _Progress:
    """The engine's progress callback: maps its 0..1 onto 5..95 % and writes at most twice a second."""

    def __init__(self, iteration_id: uuid.UUID) -> None:
        self.iteration_id = iteration_id
        self.last_write = 0.0
        self.last_stage = ""

    def set(self, fraction: float, stage: str, *, force: bool = False) -> None:
        now = time.monotonic()
        # "embedding images 41/10000" and "…42/10000" are one stage: counts alone never force a write (one
        # write per image cost a 10,000-image training a quarter of its time).
        kind = re.sub(r"\d+", "#", stage)
        if not force and kind == self.last_stage and now - self.last_write < PROGRESS_WRITE_SECONDS:
            return
        self.last_write, self.last_stage = now, kind
        Iteration.objects.filter(id=self.iteration_id, status=Status.TRAINING).update(
            progress=max(0.0, min(1.0, fraction)), stage=stage[:200], modified=timezone.now()
        )

    def __call__(self, fraction: float, stage: str) -> None:
        self.set(0.05 + 0.9 * float(fraction), stage)


class _CancelCheck:
    """The engine's should_cancel: the iteration left Training (cancelled, reaped, deleted) or we were orphaned."""

    def __init__(self, iteration_id: uuid.UUID) -> None:
        self.iteration_id = iteration_id
        self.parent_pid = os.getppid()
        self.last_check = 0.0
        self.cancelled = False
        self.orphaned = False

    def __call__(self) -> bool:
        if self.cancelled:
            return True
        if os.getppid() != self.parent_pid:  # our pool parent died (SIGKILL): stop, the reaper fails the job
            self.cancelled = self.orphaned = True
            return True
        now = time.monotonic()
        if now - self.last_check >= CANCEL_POLL_SECONDS:
            self.last_check = now
            status = Iteration.objects.filter(id=self.iteration_id).values_list("status", flat=True).first()
            self.cancelled = status != Status.TRAINING
        return self.cancelled


def _image_cache_dir() -> Path:
    path = Path(settings.DATA_DIR) / "cache" / "images"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _image_unreadable(item: dict[str, Any], exc: Exception) -> errors.TrainingError:
    return errors.TrainingError(
        f"Image {item['id']} could not be read from storage ({type(exc).__name__}); "
        "it may have been deleted. Train again.", code="ErrorImageStorage",
    )


def images_fetch(*, images: Iterable[dict[str, Any]]) -> dict[str, Path]:
    """Local copies of the snapshot's images, cached by SHA-256 (works the same for S3 and local storage)."""
    local: dict[str, Path] = {}
    if storage_is_local():  # media already on this disk: read it where it lies, copy nothing
        for item in images:
            path = Path(default_storage.path(item["file"]))
            if not path.is_file():
                raise _image_unreadable(item, FileNotFoundError(str(path)))
            local[item["id"]] = path
        return local
    cache = _image_cache_dir()
    for item in images:
        suffix = Path(item["file"]).suffix.lower() or ".img"
        path = cache / f"{item['sha256']}{suffix}"
        if not path.exists():
            fd, tmp = tempfile.mkstemp(dir=cache, suffix=".part")
            try:
                with os.fdopen(fd, "wb") as out, default_storage.open(item["file"], "rb") as src:
                    shutil.copyfileobj(src, out)
            except OSError as exc:
                os.unlink(tmp)
                raise _image_unreadable(item, exc) from exc
            os.replace(tmp, path)  # atomic: several workers may fill the cache at once
        local[item["id"]] = path
    return local


def iteration_manifest(*, iteration: Iteration, local_paths: dict[str, Path]) -> Any:
    """The training.ml Manifest of an iteration's frozen snapshot (sample id = Image UUID)."""
    from training.ml.manifest import Box, Manifest, Sample

    snapshot = iteration.snapshot
    names = {t["id"]: t["name"] for t in snapshot["tags"]}
    negative = [t["name"] for t in snapshot["tags"] if t["type"] == Tag.TagType.NEGATIVE]
    used: set[str] = set()
    samples = []
    # Samples in content order (and boxes in geometric order), not by database id: the same images in another
    # project, or uploaded in another order, give the same split and the same training, hence the same metrics.
    for item in sorted(snapshot["images"], key=lambda i: (i["sha256"], i["id"])):
        boxes = tuple(sorted(
            (Box(names[r["tag"]], r["left"], r["top"], r["width"], r["height"]) for r in item["regions"]),
            key=lambda b: (b.left, b.top, b.width, b.height, b.tag),
        ))
        tags = tuple(sorted({b.tag for b in boxes})) if iteration.is_detection else tuple(
            sorted(names[t] for t in item["tags"])
        )
        used.update(tags)
        samples.append(
            Sample(id=item["id"], path=str(local_paths[item["id"]]), tags=tags, boxes=boxes,
                   width=item["width"], height=item["height"], sha256=item["sha256"])
        )
    tag_order = tuple(t["name"] for t in snapshot["tags"] if t["name"] in used)
    negative_tag = negative[0] if negative and negative[0] in used and not iteration.is_detection else None
    return Manifest(
        task="detection" if iteration.is_detection else "classification",
        tags=tag_order,
        samples=tuple(samples),
        multilabel=iteration.classification_type == "Multilabel",
        negative_tag=negative_tag,
        name=f"{iteration.project_id}/{iteration.name}",
    )


def iteration_run(*, iteration_id: uuid.UUID | str, worker_hostname: str = "") -> None:
    """Train one queued iteration (called by the Celery task). Never raises: failures end as Failed."""
    now = timezone.now()
    claimed = Iteration.objects.filter(id=iteration_id, status=Status.TRAINING, started__isnull=True).update(
        started=now, modified=now, stage="Starting", progress=0.0, worker_hostname=worker_hostname[:255],
        worker_pid=os.getpid(), worker_parent_pid=os.getppid(),
    )
    if not claimed:  # cancelled, failed, deleted, or already picked up once: never run a job twice
        logger.info("iteration %s is not queued any more; skipping", iteration_id)
        return
    iteration = Iteration.objects.get(id=iteration_id)
    progress, should_cancel = _Progress(iteration.id), _CancelCheck(iteration.id)
    started = time.monotonic()
    try:
        _train(iteration=iteration, progress=progress, should_cancel=should_cancel)
    except Exception as exc:  # noqa: BLE001 - every failure must end as a readable Failed, never a retry
        _fail(iteration=iteration, exc=exc, should_cancel=should_cancel)
    else:
        logger.info("iteration %s completed in %.1fs", iteration.id, time.monotonic() - started)


def _train(*, iteration: Iteration, progress: _Progress, should_cancel: _CancelCheck) -> None:
    progress.set(0.01, f"Fetching {iteration.image_count} images", force=True)
    local = images_fetch(images=iteration.snapshot["images"])
    manifest = iteration_manifest(iteration=iteration, local_paths=local)
    from training.ml import TrainConfig, train  # torch loads here, on the worker only
    advanced = iteration.training_type == Iteration.TrainingType.ADVANCED
    # The domain's recipe; its backbone was frozen on the iteration at queue time.
    domain = domain_of(iteration.domain_id)
    config = TrainConfig(
        backbone=iteration.backbone or "lite0",
        image_size=domain.image_size if domain else None,
        framings=domain.framings if domain else ("centre",),
        pooling=domain.pooling if domain else "avg",
        mode="advanced" if advanced else "quick",
        budget_seconds=float(iteration.budget_minutes * 60) if advanced else 600.0,
        cache_dir=str(Path(settings.DATA_DIR) / "cache" / "embeddings"),
        view_cache_mb=settings.TAGSIGHT_DETECTION_VIEW_CACHE_MB,
        int8=bool(domain and domain.compact),  # the int8 model the server runs where it meets the bar
    )
    progress.set(0.05, "Training", force=True)
    with tempfile.TemporaryDirectory(prefix=f"tagsight-{iteration.id}-") as workdir:
        result = train(manifest, config, workdir, progress=progress, should_cancel=should_cancel)
        progress.set(0.97, "Saving the model", force=True)
        if should_cancel():
            raise _cancelled_error()
        name, kind = artifact_store(iteration=iteration, artifact=Path(result.artifact_path))
    metrics = dict(result.metrics)
    metrics.setdefault("train_seconds", result.elapsed_seconds)
    if result.notes:
        metrics["notes"] = list(dict.fromkeys([*metrics.get("notes", []), *result.notes]))
    done = iteration_finish(iteration.id, Status.COMPLETED, metrics=_jsonable(metrics), artifact_path=name,
                   artifact_kind=kind, progress=1.0, stage="Completed")
    if not done:  # cancelled or reaped while saving: drop what we stored
        artifact_delete(path=name, kind=kind)
        return
    _page_warm(iteration.id)


def _page_warm(iteration_id: uuid.UUID) -> None:
    """Fill the shared cache with what the iteration page derives (training.selectors), so its first view is as
    fast as the next ones. A page can always compute them itself: a failure here only costs that."""
    from training import selectors

    try:
        finished = Iteration.objects.defer("snapshot", "metrics").get(id=iteration_id)
        selectors.iteration_performance(iteration=finished)
        selectors.iteration_method(iteration=finished)
        selectors.iteration_diff(iteration=finished)
    except Exception:  # noqa: BLE001 - never fails a completed training
        logger.exception("iteration %s: could not prepare its page", iteration_id)


def _cancelled_error() -> Exception:
    from training.ml.errors import MLError

    return MLError("Cancelled", code="TrainingCancelled")


def _fail(*, iteration: Iteration, exc: Exception, should_cancel: _CancelCheck) -> None:
    from training.ml.errors import MLError

    if should_cancel.orphaned:
        iteration_finish(iteration.id, Status.FAILED, error="Worker lost: the worker process stopped during training.",
                error_code="ErrorWorkerLost", stage="Failed")
        logger.warning("iteration %s: worker parent died; stopped", iteration.id)
        return
    if should_cancel.cancelled:
        # The user cancelled (status is already Cancelled): record that the worker really stopped.
        secs = (timezone.now() - iteration.started).total_seconds() if iteration.started else 0.0
        Iteration.objects.filter(id=iteration.id, status=Status.CANCELLED).update(
            stage=f"Cancelled; the worker stopped after {secs:.0f} s", finished=timezone.now()
        )
        logger.info("iteration %s cancelled", iteration.id)
        return
    if isinstance(exc, (MLError, errors.TrainingError)):
        message, code = str(exc), getattr(exc, "code", "ErrorTraining")
        logger.warning("iteration %s failed: %s (%s)", iteration.id, message, code)
    else:
        message, code = f"Internal error: {type(exc).__name__}: {exc}", "ErrorTraining"
        logger.exception("iteration %s crashed", iteration.id)
    iteration_finish(iteration.id, Status.FAILED, error=message[:4000], error_code=code[:100], stage="Failed")


def _jsonable(value: Any) -> Any:
    """Round-trip through JSON so numpy scalars and tuples become plain JSON values."""
    return json.loads(json.dumps(value, default=_json_default))


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")
