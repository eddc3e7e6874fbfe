"""Training services: queue an iteration (Azure's checks), run it on a worker, cancel, reap lost ones, publish."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from labeling.models import Region
from projects.domains import DOMAINS_BY_ID
from projects.models import Image, Project, Tag
from training import errors
from training.models import Iteration, WorkerHeartbeat

logger = logging.getLogger(__name__)

Status = Iteration.Status
LOST_AFTER_SECONDS = 30  # a worker whose heartbeat (every 5 s) is older than this is gone
PROGRESS_WRITE_SECONDS = 0.5  # throttle for the worker's progress writes
CANCEL_POLL_SECONDS = 0.5  # throttle for the worker's "was I cancelled?" reads
MAX_BUDGET_MINUTES = 24 * 60


# ---------------------------------------------------------------------------------------------- snapshot


def _snapshot(*, project: Project) -> dict[str, Any]:
    """What an iteration trains on, frozen: tags (id, name, type) and every labelled image."""
    tags = list(Tag.objects.filter(project=project).order_by("name"))
    images: dict[uuid.UUID, dict[str, Any]] = {}
    rows = Image.objects.filter(project=project).values_list("id", "sha256", "file", "width", "height")
    for image_id, sha, name, width, height in rows:
        images[image_id] = {"id": str(image_id), "sha256": sha, "file": name, "width": width, "height": height,
                            "tags": [], "regions": []}
    for image_id, tag_id in Image.tags.through.objects.filter(image__project=project).values_list("image_id", "tag_id"):
        images[image_id]["tags"].append(str(tag_id))
    if project.is_detection:
        for r in Region.objects.filter(image__project=project).order_by("image_id", "created", "id"):
            images[r.image_id]["regions"].append(
                {"tag": str(r.tag_id), "left": r.left, "top": r.top, "width": r.width, "height": r.height}
            )
    kept = []
    for item in images.values():
        item["tags"].sort()
        if (item["regions"] if project.is_detection else item["tags"]):
            kept.append(item)
    kept.sort(key=lambda i: i["id"])
    return {
        "tags": [{"id": str(t.id), "name": t.name, "type": t.type} for t in tags],
        "images": kept,
    }


def _fingerprint(*, snapshot: dict[str, Any], project: Project, training_type: str) -> str:
    """Same data, tag names, domain and type → same fingerprint → "nothing new to train"."""
    names = {t["id"]: t["name"] for t in snapshot["tags"]}
    content = {
        "images": [
            [i["sha256"], sorted(names[t] for t in i["tags"]),
             sorted((names[r["tag"]], round(r["left"], 5), round(r["top"], 5), round(r["width"], 5),
                     round(r["height"], 5)) for r in i["regions"])]
            for i in snapshot["images"]
        ],
        "domain": str(project.domain_id),
        "type": [project.project_type, project.classification_type, training_type],
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def _validate(*, project: Project, snapshot: dict[str, Any]) -> None:
    """Azure's pre-training checks, with the minimums from settings."""
    tag_by_id = {t["id"]: t for t in snapshot["tags"]}
    negative = {t["id"] for t in snapshot["tags"] if t["type"] == Tag.TagType.NEGATIVE}
    if project.is_detection:
        need = settings.TAGSIGHT_MIN_BOXES_PER_TAG
        boxes = Counter(r["tag"] for i in snapshot["images"] for r in i["regions"])
        if not boxes:
            raise errors.DetectionTrainingValidationFailed(
                f"Nothing to train on: draw at least {need} boxes for a tag first."
            )
        short = sorted(tag_by_id[t]["name"] for t, n in boxes.items() if n < need)
        if short:
            detail = ", ".join(f"{name!r} has {boxes[_id(tag_by_id, name)]}" for name in short)
            raise errors.DetectionTrainingValidationFailed(
                f"Each tag needs at least {need} boxes to train a detector: {detail}."
            )
        return
    need = settings.TAGSIGHT_MIN_IMAGES_PER_TAG
    counts = Counter(t for i in snapshot["images"] for t in i["tags"])
    used = [t for t in tag_by_id if counts[t] > 0]
    short = sorted(tag_by_id[t]["name"] for t in used if counts[t] < need)
    if short:
        detail = ", ".join(f"{name!r} has {counts[_id(tag_by_id, name)]}" for name in short)
        raise errors.ClassificationTrainingValidationFailed(
            f"Each tag needs at least {need} images: {detail}. Add images or remove the tag from them."
        )
    regular = [t for t in used if t not in negative]
    if len(regular) < 2 and not (len(regular) == 1 and any(t in negative for t in used)):
        raise errors.ClassificationTrainingValidationFailed(
            f"Classification needs at least 2 tags with {need} or more images each "
            f"(or one tag plus the Negative tag); this project has {len(regular)}."
        )
    if not project.is_multilabel:
        several = sum(1 for i in snapshot["images"] if len(i["tags"]) > 1)
        if several:
            raise errors.MultiClassTrainingValidationFailed(
                f"{several} image(s) have more than one tag; a multiclass project needs exactly one tag per "
                "image (or the Negative tag). Fix them or switch the project to multilabel."
            )
    else:
        mixed = sum(1 for i in snapshot["images"] if len(i["tags"]) > 1 and any(t in negative for t in i["tags"]))
        if mixed:
            raise errors.MultiClassTrainingValidationFailed(
                f"{mixed} image(s) carry the Negative tag together with a regular tag.",
                code="BadRequestNegativeAndRegularTagOnSameImage",
            )


def _id(tag_by_id: dict[str, dict[str, Any]], name: str) -> str:
    return next(t for t, info in tag_by_id.items() if info["name"] == name)


def _code_version() -> str:
    from importlib import metadata

    version = os.environ.get("TAGSIGHT_CODE_VERSION", "")
    if version:
        return version
    try:
        return metadata.version("tagsight")
    except metadata.PackageNotFoundError:
        return "dev"


# ---------------------------------------------------------------------------------------------- queue


def iteration_queue(
    *,
    project: Project,
    requested_by: Any = None,
    training_type: str = Iteration.TrainingType.REGULAR,
    budget_minutes: int = 0,
    force: bool = False,
) -> Iteration:
    """Check the dataset as Azure does, create the Iteration (Training, queued) and hand it to a worker."""
    if training_type not in Iteration.TrainingType.values:
        raise errors.TrainingError(f"Unknown training type {training_type!r}.", code="BadRequestInvalidTrainingType")
    if training_type == Iteration.TrainingType.ADVANCED:
        if not 1 <= int(budget_minutes) <= MAX_BUDGET_MINUTES:
            raise errors.InvalidTrainingBudget(
                f"Advanced training needs a budget between 1 and {MAX_BUDGET_MINUTES} minutes."
            )
    else:
        budget_minutes = 0
    domain = DOMAINS_BY_ID[project.domain_id]
    with transaction.atomic():
        # Lock the project row (PostgreSQL) so two clicks cannot both pass the "one at a time" check.
        project = Project.objects.select_for_update().get(pk=project.pk)
        if Iteration.objects.filter(project=project, status=Status.TRAINING).exists():
            raise errors.TrainingAlreadyInProgress(
                "A training of this project is already in progress; wait for it or cancel it."
            )
        snapshot = _snapshot(project=project)
        _validate(project=project, snapshot=snapshot)
        fingerprint = _fingerprint(snapshot=snapshot, project=project, training_type=training_type)
        last = Iteration.objects.filter(project=project, status=Status.COMPLETED).order_by("-number").first()
        if not force and last is not None and last.fingerprint == fingerprint:
            raise errors.TrainingNotNeeded(
                f"Nothing new to train: the images and tags are the same as in {last.name}. "
                "Change the dataset, or force a new training."
            )
        number = (Iteration.objects.filter(project=project).aggregate(n=Max("number"))["n"] or 0) + 1
        iteration = Iteration.objects.create(
            project=project,
            number=number,
            name=f"Iteration {number}",
            training_type=training_type,
            budget_minutes=int(budget_minutes),
            requested_by=requested_by,
            domain_id=project.domain_id,
            backbone=domain.backbone,
            project_type=project.project_type,
            classification_type="" if project.is_detection else project.classification_type,
            snapshot=snapshot,
            fingerprint=fingerprint,
            image_count=len(snapshot["images"]),
            code_version=_code_version(),
            task_id=str(uuid.uuid4()),
            stage="Queued: waiting for a worker",
        )
        transaction.on_commit(lambda: _schedule(iteration=iteration))
    logger.info("iteration %s queued for project %s (%s)", iteration.id, project.id, training_type)
    return iteration


def _schedule(*, iteration: Iteration) -> None:
    from training.tasks import train_iteration as train_iteration_task

    # An advanced budget may outlast the default hard limit: give the task its budget plus half an hour.
    time_limit = max(int(settings.CELERY_TASK_TIME_LIMIT), iteration.budget_minutes * 60 + 1800)
    train_iteration_task.apply_async(
        args=[str(iteration.id)], task_id=iteration.task_id, queue="training", time_limit=time_limit
    )


# ---------------------------------------------------------------------------------------------- run (worker)


class _Progress:
    """The engine's progress callback: maps its 0..1 onto 5..95 % and writes at most twice a second."""

    def __init__(self, iteration_id: uuid.UUID) -> None:
        self.iteration_id = iteration_id
        self.last_write = 0.0
        self.last_stage = ""

    def set(self, fraction: float, stage: str, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and stage == self.last_stage and now - self.last_write < PROGRESS_WRITE_SECONDS:
            return
        self.last_write, self.last_stage = now, stage
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


def _storage_is_local() -> bool:
    try:
        default_storage.path("")
    except NotImplementedError:  # S3 and other remote storages have no local path
        return False
    return True


def _fetch_images(*, images: Iterable[dict[str, Any]]) -> dict[str, Path]:
    """Local copies of the snapshot's images, cached by SHA-256 (works the same for S3 and local storage)."""
    local: dict[str, Path] = {}
    if _storage_is_local():  # media already on this disk: read it where it lies, copy nothing
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
    for item in snapshot["images"]:
        boxes = tuple(
            Box(names[r["tag"]], r["left"], r["top"], r["width"], r["height"]) for r in item["regions"]
        )
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


def iteration_storage_prefix(*, iteration: Iteration) -> str:
    """Where an iteration's files live in storage: under its project's folder, so deleting the project
    (projects.services.project_delete removes ``projects/<id>/``) removes its models and exports too."""
    return f"projects/{iteration.project_id}/iterations/{iteration.id}"


def _store_artifact(*, iteration: Iteration, artifact: Path) -> tuple[str, str]:
    """Copy the engine's artifact (a file or a folder) into default_storage; return (name or prefix, kind)."""
    base = iteration_storage_prefix(iteration=iteration)
    if artifact.is_dir():
        for path in sorted(artifact.rglob("*")):
            if path.is_file():
                default_storage.save(f"{base}/artifact/{path.relative_to(artifact).as_posix()}",
                                     ContentFile(path.read_bytes()))
        return f"{base}/artifact", "dir"
    return default_storage.save(f"{base}/{artifact.name}", ContentFile(artifact.read_bytes())), "file"


def _finish(iteration_id: uuid.UUID, status: str, **fields: Any) -> bool:
    """Move a Training iteration to its final state; False if someone (cancel, reaper) got there first."""
    now = timezone.now()
    return bool(
        Iteration.objects.filter(id=iteration_id, status=Status.TRAINING).update(
            status=status, finished=now, modified=now, **fields
        )
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
    local = _fetch_images(images=iteration.snapshot["images"])
    manifest = iteration_manifest(iteration=iteration, local_paths=local)
    from training.ml import TrainConfig, train  # torch loads here, on the worker only
    advanced = iteration.training_type == Iteration.TrainingType.ADVANCED
    config = TrainConfig(
        backbone=iteration.backbone or "lite0",
        mode="advanced" if advanced else "quick",
        budget_seconds=float(iteration.budget_minutes * 60) if advanced else 600.0,
        cache_dir=str(Path(settings.DATA_DIR) / "cache" / "embeddings"),
    )
    progress.set(0.05, "Training", force=True)
    with tempfile.TemporaryDirectory(prefix=f"tagsight-{iteration.id}-") as workdir:
        result = train(manifest, config, workdir, progress=progress, should_cancel=should_cancel)
        progress.set(0.97, "Saving the model", force=True)
        if should_cancel():
            raise _cancelled_error()
        name, kind = _store_artifact(iteration=iteration, artifact=Path(result.artifact_path))
    metrics = dict(result.metrics)
    metrics.setdefault("train_seconds", result.elapsed_seconds)
    if result.notes:
        metrics["notes"] = list(dict.fromkeys([*metrics.get("notes", []), *result.notes]))
    done = _finish(iteration.id, Status.COMPLETED, metrics=_jsonable(metrics), artifact_path=name,
                   artifact_kind=kind, progress=1.0, stage="Completed")
    if not done:  # cancelled or reaped while saving: drop what we stored
        _delete_artifact(path=name, kind=kind)


def _cancelled_error() -> Exception:
    from training.ml.errors import MLError

    return MLError("Cancelled", code="TrainingCancelled")


def _fail(*, iteration: Iteration, exc: Exception, should_cancel: _CancelCheck) -> None:
    from training.ml.errors import MLError

    if should_cancel.orphaned:
        _finish(iteration.id, Status.FAILED, error="Worker lost: the worker process stopped during training.",
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
    _finish(iteration.id, Status.FAILED, error=message[:4000], error_code=code[:100], stage="Failed")


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


# ---------------------------------------------------------------------------------------------- lifecycle


def iteration_cancel(*, iteration: Iteration) -> Iteration:
    """Stop a queued or running training. Queued: never starts. Running: the worker stops at its next check."""
    stage = "Cancelling: waiting for the worker to stop" if iteration.started else "Cancelled before it started"
    Iteration.objects.filter(id=iteration.id, status=Status.TRAINING).update(
        status=Status.CANCELLED, stage=stage, finished=timezone.now(), modified=timezone.now()
    )
    iteration.refresh_from_db()
    return iteration


def _delete_artifact(*, path: str, kind: str) -> None:
    if not path:
        return
    try:
        if kind == "dir":
            _delete_tree(path)
        elif default_storage.exists(path):
            default_storage.delete(path)
    except OSError:
        logger.exception("could not delete artifact %s", path)


def _delete_tree(prefix: str) -> None:
    dirs, files = default_storage.listdir(prefix)
    for f in files:
        default_storage.delete(f"{prefix}/{f}")
    for d in dirs:
        _delete_tree(f"{prefix}/{d}")


def iteration_delete(*, iteration: Iteration) -> None:
    """Delete an iteration and its model (a published one must be unpublished first; a running one is cancelled)."""
    if iteration.is_published:
        raise errors.IterationIsPublished(
            f"{iteration.name} is published as {iteration.publish_name!r}; unpublish it before deleting."
        )
    path, kind = iteration.artifact_path, iteration.artifact_kind
    iteration.delete()  # a running worker sees the row gone at its next cancel check
    transaction.on_commit(lambda: _delete_artifact(path=path, kind=kind))


def iteration_rename(*, iteration: Iteration, name: str) -> Iteration:
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise errors.IterationNameInvalid("An iteration name needs 1 to 200 characters.")
    if Iteration.objects.filter(project_id=iteration.project_id, name__iexact=name).exclude(id=iteration.id).exists():
        raise errors.IterationNameNotUnique(f"Another iteration of this project is already called {name!r}.")
    iteration.name = name
    iteration.save(update_fields=["name", "modified"])
    return iteration


def _check_publish_name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > 200 or any(c in name for c in "/\\?#%") or name != name.strip("."):
        raise errors.InvalidPublishName(
            "A publish name needs 1 to 200 characters and no '/', '\\', '?', '#' or '%'."
        )
    return name


def iteration_publish(*, iteration: Iteration, publish_name: str) -> Iteration:
    """Make a Completed iteration available to the prediction endpoint under ``publish_name`` (unique per project)."""
    publish_name = _check_publish_name(publish_name)
    if iteration.status != Status.COMPLETED:
        raise errors.IterationNotCompleted(
            f"{iteration.name} is {iteration.status}; only a completed one can be published."
        )
    if iteration.publish_name == publish_name:
        return iteration
    if iteration.is_published:
        raise errors.IterationIsPublished(
            f"{iteration.name} is already published as {iteration.publish_name!r}; unpublish it first."
        )
    taken = Iteration.objects.filter(project_id=iteration.project_id, publish_name=publish_name).first()
    if taken is not None:
        raise errors.InvalidPublishName(f"{taken.name} is already published as {publish_name!r}.")
    iteration.publish_name, iteration.published_at = publish_name, timezone.now()
    try:
        with transaction.atomic():
            iteration.save(update_fields=["publish_name", "published_at", "modified"])
    except IntegrityError:
        raise errors.InvalidPublishName(f"Another iteration is already published as {publish_name!r}.") from None
    return iteration


def iteration_unpublish(*, iteration: Iteration) -> Iteration:
    if not iteration.is_published:
        raise errors.IterationNotPublished(f"{iteration.name} is not published.")
    iteration.publish_name, iteration.published_at = None, None
    iteration.save(update_fields=["publish_name", "published_at", "modified"])
    return iteration


# ---------------------------------------------------------------------------------------------- lost workers


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def iterations_reap_lost(
    *, project: Project | None = None, local_hostname: str | None = None, stale_seconds: int = LOST_AFTER_SECONDS
) -> int:
    """Mark running iterations whose worker is gone as Failed ("worker lost"); returns how many.

    A worker is gone when its heartbeat is older than ``stale_seconds`` or missing, when its heartbeat row
    now belongs to a new process (restarted under the same hostname), or — checked only by the worker on
    that very machine (``local_hostname``) — when the pool process running the job no longer exists.
    """
    now = timezone.now()
    running = Iteration.objects.filter(status=Status.TRAINING, started__isnull=False)
    if project is not None:
        running = running.filter(project=project)
    running_list = list(running.only("id", "started", "worker_hostname", "worker_pid", "worker_parent_pid"))
    if not running_list:
        return 0
    beats = {b.hostname: b for b in WorkerHeartbeat.objects.filter(
        hostname__in={i.worker_hostname for i in running_list})}
    stale = now - timedelta(seconds=stale_seconds)
    reaped = 0
    for it in running_list:
        beat = beats.get(it.worker_hostname)
        if beat is None:
            reason = "no heartbeat" if it.started and it.started < stale else ""
        elif beat.last_seen < stale:
            reason = f"last heartbeat {int((now - beat.last_seen).total_seconds())} s ago"
        elif beat.pid not in (it.worker_pid, it.worker_parent_pid) and it.started and beat.last_seen > it.started:
            reason = "the worker restarted"
        elif local_hostname == it.worker_hostname and it.worker_pid and not _pid_alive(it.worker_pid):
            reason = "the pool process died"
        else:
            reason = ""
        if reason and _finish(
            it.id, Status.FAILED, stage="Failed", error_code="ErrorWorkerLost",
            error=f"Worker lost: {it.worker_hostname or 'the worker'} stopped during training ({reason}). "
            "Train again when a worker is running.",
        ):
            reaped += 1
            logger.warning("iteration %s: worker %s lost (%s)", it.id, it.worker_hostname, reason)
    return reaped


# ---------------------------------------------------------------------------------------------- artifacts


def iteration_artifact_local(*, iteration: Iteration) -> Path:
    """A local path to the iteration's model (downloaded once from storage into DATA_DIR/cache/artifacts)."""
    if iteration.status != Status.COMPLETED or not iteration.artifact_path:
        raise errors.IterationNotCompleted(f"{iteration.name} has no trained model.")
    root = Path(settings.DATA_DIR) / "cache" / "artifacts" / str(iteration.id)
    if iteration.artifact_kind == "dir":
        target = root / "artifact"
        if not target.exists():
            tmp = Path(tempfile.mkdtemp(dir=root.parent if root.parent.exists() else _mk(root.parent)))
            _download_tree(iteration.artifact_path, tmp)
            root.mkdir(parents=True, exist_ok=True)
            try:
                os.replace(tmp, target)
            except OSError:  # another process won the race
                shutil.rmtree(tmp, ignore_errors=True)
        return target
    target = root / Path(iteration.artifact_path).name
    if not target.exists():
        root.mkdir(parents=True, exist_ok=True)
        fd, part = tempfile.mkstemp(dir=root, suffix=".part")
        with os.fdopen(fd, "wb") as out, default_storage.open(iteration.artifact_path, "rb") as src:
            shutil.copyfileobj(src, out)
        os.replace(part, target)
    return target


def _mk(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _download_tree(prefix: str, target: Path) -> None:
    dirs, files = default_storage.listdir(prefix)
    target.mkdir(parents=True, exist_ok=True)
    for f in files:
        with default_storage.open(f"{prefix}/{f}", "rb") as src, open(target / f, "wb") as out:
            shutil.copyfileobj(src, out)
    for d in dirs:
        _download_tree(f"{prefix}/{d}", target / d)


# ---------------------------------------------------------------------------------------------- retag


def image_retag(*, project: Project, image_id: Any, tag_id: Any, mode: str = "set") -> None:
    """One-click fix from the error gallery: ``set`` the image's only tag, ``add`` a tag, or ``remove`` one."""
    from projects.services import images_tag, images_untag

    if mode not in ("set", "add", "remove"):
        raise errors.TrainingError(f"Unknown retag mode {mode!r}.", code="BadRequestImageTags")
    with transaction.atomic():
        if mode == "remove":
            images_untag(project=project, image_ids=[image_id], tag_ids=[tag_id])
            return
        if mode == "set":
            others = Image.tags.through.objects.filter(image_id=image_id, image__project=project).exclude(
                tag_id=tag_id
            ).values_list("tag_id", flat=True)
            images_untag(project=project, image_ids=[image_id], tag_ids=list(others))
        images_tag(project=project, image_ids=[image_id], tag_ids=[tag_id])
