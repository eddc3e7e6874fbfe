"""Prediction services: the shared model cache, run a prediction (and store it), the Predictions tab's data.

Used by the portal's Quick Test and by the Azure Prediction API (predictions/api.py), so both share
one bounded, thread-safe LRU of loaded ``training.ml.Predictor``s per process. Under gunicorn each worker
process has its own cache (a model loaded before a fork is never reused after it: the cache is keyed by pid).
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone

from predictions.models import StoredPrediction
from projects.images import ImageHeader, ImageRejected, read_header, render
from projects.models import Project
from projects.storage import storage_delete
from training.errors import TrainingError
from training.models import Iteration
from workspaces import audit
from workspaces.access import workspace_ids_of

logger = logging.getLogger(__name__)

Source = StoredPrediction.Source

_IMAGE_CODES = {  # projects.images' ImageCreateStatus -> the prediction API's error code
    "ErrorImageFormat": "BadRequestImageFormat",
    "ErrorImageSize": "BadRequestImageSizeBytes",
    "ErrorImageDimensions": "BadRequestImageDimensions",
}


class PredictionError(TrainingError):
    """A prediction could not be made; ``code`` is Azure's CustomVisionErrorCodes, ``status`` the HTTP status."""

    code = "BadRequestImageFormat"


# ---------------------------------------------------------------------------------------------- model cache


class PredictorCache:
    """A bounded LRU of loaded predictors keyed by (iteration id, artifact path); thread-safe, fork-aware.

    Concurrent first requests for the same model load it once (a per-key lock); other models are served
    meanwhile. ``Predictor.predict`` itself is thread-safe (onnxruntime sessions).
    """

    def __init__(self, size: int) -> None:
        self.size = max(1, int(size))
        self._items: OrderedDict[tuple[str, str], Any] = OrderedDict()
        self._loading: dict[tuple[str, str], threading.Lock] = {}
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self.hits = self.misses = self.loads = 0

    def _check_fork(self) -> None:
        if os.getpid() != self._pid:  # a forked child: the parent's sessions are not ours to use
            self._items.clear()
            self._loading.clear()
            self._lock = threading.Lock()
            self._pid = os.getpid()

    def get(self, key: tuple[str, str], load: Any) -> Any:
        with self._lock:
            self._check_fork()
            if key in self._items:
                self._items.move_to_end(key)
                self.hits += 1
                return self._items[key]
            self.misses += 1
            key_lock = self._loading.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                if key in self._items:  # loaded by another thread while we waited
                    self._items.move_to_end(key)
                    return self._items[key]
            predictor = load()
            with self._lock:
                self.loads += 1
                self._items[key] = predictor
                self._items.move_to_end(key)
                while len(self._items) > self.size:
                    evicted, _ = self._items.popitem(last=False)
                    logger.info("predictor cache: evicted %s", evicted[0])
                self._loading.pop(key, None)
        return predictor

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._loading.clear()
            self.hits = self.misses = self.loads = 0

    def info(self) -> dict[str, Any]:
        with self._lock:
            return {"size": len(self._items), "max_size": self.size, "hits": self.hits, "misses": self.misses,
                    "loads": self.loads, "keys": [k[0] for k in self._items]}


_cache: PredictorCache | None = None
_cache_guard = threading.Lock()


def predictor_cache() -> PredictorCache:
    global _cache
    with _cache_guard:
        if _cache is None:
            _cache = PredictorCache(getattr(settings, "TAGSIGHT_PREDICTOR_CACHE_SIZE", 4))
        return _cache


def predictor_get(*, iteration: Iteration) -> Any:
    """The loaded ``training.ml.Predictor`` of a Completed iteration (from the cache after the first call)."""
    if iteration.status != Iteration.Status.COMPLETED or not iteration.artifact_path:
        raise PredictionError(f"{iteration.name} is not trained.", code="BadRequestIterationIsNotTrained")

    def load() -> Any:
        from training.ml import Predictor
        from training.ml.errors import ModelUnavailable
        from training.storage import iteration_artifact_local

        started = time.perf_counter()
        try:
            predictor = Predictor.load(iteration_artifact_local(iteration=iteration),
                                       threads=settings.TAGSIGHT_PREDICTION_THREADS, int8=True)
        except ModelUnavailable as exc:
            raise PredictionError(str(exc), code=exc.code, status=503) from None
        logger.info("loaded the model of %s in %.0f ms", iteration.id, (time.perf_counter() - started) * 1000)
        return predictor

    return predictor_cache().get((str(iteration.id), iteration.artifact_path), load)


@functools.lru_cache(maxsize=256)
def _tag_ids(iteration_id: uuid.UUID) -> dict[str, str]:
    found = Iteration.objects.filter(id=iteration_id).values_list("snapshot__tags", flat=True)
    if not found:
        raise LookupError(iteration_id)  # not cached (lru_cache keeps only results)
    return {t["name"]: str(t["id"]) for t in found[0] or ()}


def iteration_tag_ids(*, iteration: Iteration) -> dict[str, str]:
    """Tag name -> id as the iteration was trained (its snapshot's tags), read once per process: a snapshot is
    frozen when the iteration is queued, and only its tags are read (not its list of every image)."""
    try:
        return dict(_tag_ids(iteration.id))
    except LookupError:
        return {}


# ---------------------------------------------------------------------------------------------- run


@dataclass(frozen=True)
class PredictionResult:
    """What one prediction gave: ``predictions`` sorted by probability, descending, as plain dicts."""

    id: uuid.UUID
    project: Project
    iteration: Iteration
    created: datetime
    predictions: list[dict[str, Any]]
    model_ms: float
    total_ms: float
    width: int
    height: int
    stored: StoredPrediction | None = None
    task: str = "classification"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def top(self) -> dict[str, Any] | None:
        return self.predictions[0] if self.predictions else None


def _uncertainty(p: float) -> float:
    return 1.0 - abs(2.0 * p - 1.0)


def _verify(data: bytes, limit: int) -> ImageHeader:
    """Size, format and dimensions from the header alone, by the uploads' check (the model's decode then reads
    every pixel). No thumbnail on the request path: the Predictions tab renders it on first view
    (``prediction_thumbnail``).
    """
    try:
        return read_header(data, max_side=settings.TAGSIGHT_MAX_IMAGE_SIDE, max_bytes=limit)
    except ImageRejected as exc:
        raise PredictionError(exc.message, code=_IMAGE_CODES[exc.status]) from None


def predict_options(*, project: Project, predictor: Any) -> dict[str, Any]:
    """What ``predictor.predict`` is given for this project's answers. Detection: the project's max detections,
    most probable first (the engine's floor: probability >= 1 %), for the Prediction API, Quick Test, the stored
    prediction and the Smart Labeler's suggestions alike."""
    return {"max_detections": project.max_detections} if getattr(predictor, "task", "") == "detection" else {}


def prediction_run(
    *,
    project: Project,
    iteration: Iteration,
    data: bytes,
    store: bool,
    source: str = Source.QUICK_TEST,
    application: str = "",
    max_bytes: int | None = None,
) -> PredictionResult:
    """Check the image, predict it with the iteration's model, and (``store``) keep image and predictions.

    Raises PredictionError with Azure's code: BadRequestImageFormat / BadRequestImageSizeBytes /
    BadRequestImageDimensions for a bad image, BadRequestIterationIsNotTrained for an untrained iteration.
    """
    started = time.perf_counter()
    if iteration.project_id != project.id:
        raise Http404("No such iteration in this project.")
    limit = int(max_bytes or settings.TAGSIGHT_MAX_PREDICTION_BYTES)
    out = _verify(data, limit)
    predictor = predictor_get(iteration=iteration)
    from training.ml.errors import MLError
    from training.ml.predict import prediction_json

    options = predict_options(project=project, predictor=predictor)
    model_started = time.perf_counter()
    try:
        raw = predictor.predict(data, **options)
    except MLError as exc:
        raise PredictionError(str(exc) or "The image could not be read.", code="BadRequestImageFormat") from None
    model_ms = (time.perf_counter() - model_started) * 1000
    predictions = [prediction_json(p) for p in raw]
    predictions.sort(key=lambda p: -p["probability"])
    prediction_id, created = uuid.uuid4(), timezone.now()
    stored = None
    if store:
        stored = _store(project=project, iteration=iteration, prediction_id=prediction_id, out=out, data=data,
                        predictions=predictions, source=source, application=application, model_ms=model_ms)
        created = stored.created
    return PredictionResult(
        id=prediction_id, project=project, iteration=iteration, created=created, predictions=predictions,
        model_ms=model_ms, total_ms=(time.perf_counter() - started) * 1000, width=out.width, height=out.height,
        stored=stored, task=getattr(predictor, "task", "classification"),
    )


def _store(*, project: Project, iteration: Iteration, prediction_id: uuid.UUID, out: ImageHeader, data: bytes,
           predictions: list[dict[str, Any]], source: str, application: str, model_ms: float) -> StoredPrediction:
    folder = f"projects/{project.id}/predictions/{prediction_id}"
    written: list[str] = []
    try:
        written.append(default_storage.save(f"{folder}/original.{out.extension}", ContentFile(data)))
        top: Mapping[str, Any] = predictions[0] if predictions else {"tag": "", "probability": 0.0}
        return StoredPrediction.objects.create(
            id=prediction_id, project=project, iteration=iteration, iteration_name=iteration.name,
            file=written[0], thumbnail=written[0], content_type=out.content_type, width=out.width,
            height=out.height, source=source if source in Source.values else Source.API,
            application=(application or "")[:200], predictions=predictions, top_tag=top["tag"][:200],
            top_probability=float(top["probability"]), uncertainty=_uncertainty(float(top["probability"])),
            model_ms=model_ms,
        )
    except Exception:
        storage_delete(written)
        logger.exception("could not store a prediction of project %s", project.id)
        raise PredictionError("The prediction could not be stored.", code="ErrorStorage", status=500) from None


def prediction_thumbnail(*, prediction: StoredPrediction) -> str:
    """The storage name of the prediction's thumbnail, rendered (once) on first use.

    Until then ``thumbnail`` names the original (so API links such as thumbnailUri always work).
    """
    if prediction.thumbnail and prediction.thumbnail != prediction.file:
        return prediction.thumbnail
    with default_storage.open(prediction.file, "rb") as handle:
        data = handle.read()
    try:
        out = render(data, max_side=settings.TAGSIGHT_MAX_IMAGE_SIDE, thumbnail_size=settings.TAGSIGHT_THUMBNAIL_SIZE,
                     display_size=settings.TAGSIGHT_DISPLAY_SIZE)
    except ImageRejected:
        return prediction.file
    name = default_storage.save(prediction.file.rsplit("/", 1)[0] + "/thumbnail.jpg", ContentFile(out.thumbnail))
    if not StoredPrediction.objects.filter(id=prediction.id, thumbnail=prediction.thumbnail).update(thumbnail=name):
        default_storage.delete(name)  # another request rendered it first
        name = StoredPrediction.objects.filter(id=prediction.id).values_list("thumbnail", flat=True).first() or name
    prediction.thumbnail = name
    return name


# ---------------------------------------------------------------------------------------------- selectors


def prediction_get_for(*, user: Any, prediction_id: uuid.UUID | str) -> StoredPrediction:
    """A stored prediction of one of the principal's projects; Http404 for anything else."""
    try:
        return StoredPrediction.objects.select_related("project", "iteration").get(
            id=prediction_id, project__workspace_id__in=workspace_ids_of(user)
        )
    except (StoredPrediction.DoesNotExist, ValueError, TypeError):
        raise Http404("No such prediction.") from None


ORDERS = {
    "uncertain": ("-uncertainty", "-created"),
    "newest": ("-created",),
    "oldest": ("created",),
    "confident": ("-top_probability", "-created"),
}


def prediction_list(
    *,
    project: Project,
    iteration_id: Any = None,
    tag: str = "",
    min_probability: float | None = None,
    max_probability: float | None = None,
    order: str = "uncertain",
) -> QuerySet[StoredPrediction]:
    """The project's stored predictions, filtered (top tag, top probability range, iteration), most uncertain first."""
    qs = StoredPrediction.objects.filter(project=project).select_related("iteration")
    if iteration_id:
        qs = qs.filter(iteration_id=iteration_id)
    if tag:
        qs = qs.filter(top_tag=tag)
    if min_probability is not None:
        qs = qs.filter(top_probability__gte=min_probability)
    if max_probability is not None:
        qs = qs.filter(top_probability__lte=max_probability)
    return qs.order_by(*ORDERS.get(order, ORDERS["uncertain"]))


def prediction_tag_names(*, project: Project) -> list[str]:
    return sorted(set(StoredPrediction.objects.filter(project=project).values_list("top_tag", flat=True)) - {""})


# ---------------------------------------------------------------------------------------------- delete / cleanup


def predictions_delete(*, project: Project, prediction_ids: Iterable[Any]) -> int:
    """Delete stored predictions of this project (unknown ids ignored) and, after commit, their files."""
    ids = []
    for value in prediction_ids:
        try:
            ids.append(uuid.UUID(str(value)))
        except ValueError:
            raise PredictionError("A prediction id is malformed.", code="BadRequestInvalidIds") from None
    return _delete(StoredPrediction.objects.filter(project=project, id__in=ids), audited=project)


def prediction_delete(*, prediction: StoredPrediction) -> None:
    _delete(StoredPrediction.objects.filter(id=prediction.id), audited=prediction.project)


def _delete(qs: QuerySet[StoredPrediction], *, audited: Project | None = None) -> int:
    """Delete the rows and, after commit, their files; a person's deletion is ``audited`` (the retention
    cleanup and a prediction becoming a training image are not deletions anyone asked for)."""
    with transaction.atomic():
        rows = list(qs.values_list("id", "file", "thumbnail"))
        if not rows:
            return 0
        StoredPrediction.objects.filter(id__in=[r[0] for r in rows]).delete()
        names = sorted({n for r in rows for n in r[1:] if n})
        transaction.on_commit(lambda: storage_delete(names))
        if audited is not None:
            audit.record(workspace_id=audited.workspace_id, action="prediction.delete", project=audited,
                         count=len(rows))
    return len(rows)


def predictions_cleanup(*, older_than_days: int | None = None, batch: int = 500) -> int:
    """Delete stored predictions older than the retention (TAGSIGHT_PREDICTION_RETENTION_DAYS); returns how many."""
    days = settings.TAGSIGHT_PREDICTION_RETENTION_DAYS if older_than_days is None else older_than_days
    if days is None or int(days) < 0:
        return 0
    cutoff = timezone.now() - timedelta(days=int(days))
    total = 0
    while True:
        ids = list(StoredPrediction.objects.filter(created__lt=cutoff).values_list("id", flat=True)[:batch])
        if not ids:
            break
        total += _delete(StoredPrediction.objects.filter(id__in=ids))
    if total:
        logger.info("deleted %d stored predictions older than %d days", total, days)
    return total


# ---------------------------------------------------------------------------------------------- add to training


def prediction_add_to_training(
    *,
    prediction: StoredPrediction,
    tags: Sequence[Any] = (),
    regions: Sequence[Mapping[str, Any]] = (),
    metadata: Mapping[str, str] | None = None,
) -> Any:
    """Make the predicted image a training image with the user's tags (classification) or regions (detection)
    and metadata pairs.

    Returns projects' UploadResult. On success the prediction leaves the Predictions tab, as in Custom Vision.
    An image already in the training set (same bytes) gets the tags added.
    """
    from projects.services import image_upload, images_tag

    project = prediction.project
    if project.is_detection and not regions:
        raise PredictionError("Keep or draw at least one box before adding the image.", code="BadRequestImageRegions")
    if not project.is_detection and not tags:
        raise PredictionError("Choose at least one tag before adding the image.", code="BadRequestImageTags")
    try:
        with default_storage.open(prediction.file, "rb") as handle:
            data = handle.read()
    except OSError:
        raise PredictionError("The predicted image is missing from storage.", code="ErrorStorage", status=500) from None
    extension = prediction.file.rsplit(".", 1)[-1]
    result = image_upload(project=project, data=data, filename=f"prediction-{prediction.id}.{extension}",
                          tags=list(tags), regions=list(regions), metadata=metadata)
    if result.status == "OKDuplicate" and result.image is not None and tags:
        images_tag(project=project, image_ids=[result.image.id], tag_ids=list(tags))
    if not result.ok:
        code = ("BadRequestImageExceededCount" if result.status == "ErrorLimitExceed"  # the project is full
                else f"BadRequest{result.status.removeprefix('Error')}")
        raise PredictionError(result.message or result.status, code=code)
    _delete(StoredPrediction.objects.filter(id=prediction.id))  # it moved to the training images: not audited
    return result
