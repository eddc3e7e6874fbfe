"""Smart Labeler services: compute, store and read an iteration's suggested tags for untagged images.

One way to get suggestions, used by the portal's Suggested tags page, its background run and the Azure
suggestion endpoints (health.suggestions_api): :func:`suggestions_for` computes what is missing (or stale: the
image's file changed) with the iteration's model from predictions' predictor cache, stores one row per
(iteration, image, tag) and answers from the rows. No cap on the number of untagged images.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from health.suggestions_models import Suggestion, SuggestionRun
from predictions.services import PredictionError, predict_options, predictor_get
from projects.models import Image, Project, Tag
from projects.selectors import image_list
from projects.services import images_tag_set
from training.models import Iteration

logger = logging.getLogger(__name__)

BATCH = 16  # images per transaction (and per progress step) of a run
LOST_AFTER = timedelta(minutes=10)  # a run that made no step for this long lost its worker: it may start again

ORDERS = {"uncertain": "Most uncertain first", "confident": "Most confident first"}


class SuggestionError(Exception):
    """Suggestions cannot be made or confirmed; ``code`` is Azure's error code, ``message`` for people."""

    def __init__(self, message: str, *, code: str = "BadRequest") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def _check_trained(iteration: Iteration) -> None:
    if iteration.status != Iteration.Status.COMPLETED or not iteration.artifact_path:
        raise SuggestionError(f"{iteration.name} is not trained.", code="BadRequestIterationIsNotTrained")


def _snapshot_tags(iteration: Iteration) -> dict[str, Tag]:
    """{model tag name: the project's Tag} for the iteration's tags that still exist (renamed ones included)."""
    ids = {str(t["id"]): t["name"] for t in (iteration.snapshot or {}).get("tags", ())}
    tags = Tag.objects.filter(project_id=iteration.project_id, id__in=list(ids))
    return {ids[str(t.id)]: t for t in tags}


def untagged_images(*, project: Project) -> QuerySet[Image]:
    return image_list(project=project, tagged=False)


def _fresh_ids(iteration: Iteration, images: Sequence[Image]) -> set[uuid.UUID]:
    """Images whose rows exist for this iteration and were computed from their current file."""
    sha = {i.id: i.sha256 for i in images}
    rows = Suggestion.objects.filter(iteration=iteration, image_id__in=list(sha)).values_list("image_id", "sha256")
    stale = {image_id for image_id, digest in rows if digest != sha[image_id]}
    if stale:
        Suggestion.objects.filter(iteration=iteration, image_id__in=stale).delete()
    return {image_id for image_id, _ in rows} - stale


def _rows(iteration: Iteration, image: Image, predictions: Iterable[Any], tags: dict[str, Tag]) -> list[Suggestion]:
    best: dict[str, float] = dict.fromkeys(tags, 0.0)
    boxes: dict[str, list[dict[str, Any]]] = {name: [] for name in tags}
    for p in predictions:
        if p.tag not in tags:
            continue
        best[p.tag] = max(best[p.tag], float(p.probability))
        if p.box is not None:
            box = {"left": p.box.left, "top": p.box.top, "width": p.box.width, "height": p.box.height}
            boxes[p.tag].append({"probability": float(p.probability), "box": box})
    return [
        Suggestion(iteration=iteration, image=image, tag=tag, confidence=best[name], boxes=boxes[name],
                   sha256=image.sha256)
        for name, tag in tags.items()
    ]


def suggestions_compute(*, iteration: Iteration, images: Sequence[Image]) -> int:
    """Predict the images that have no fresh rows and store them (one transaction). Returns how many it ran."""
    _check_trained(iteration)
    missing = [i for i in images if i.id not in _fresh_ids(iteration, images)]
    if not missing:
        return 0
    from training.ml.errors import MLError

    try:
        predictor = predictor_get(iteration=iteration)
    except PredictionError as exc:
        raise SuggestionError(str(exc), code=exc.code) from None
    tags = _snapshot_tags(iteration)
    options = predict_options(project=iteration.project, predictor=predictor)
    rows: list[Suggestion] = []
    for image in missing:
        with default_storage.open(image.file.name, "rb") as fh:
            data = fh.read()
        try:
            predictions = predictor.predict(data, **options)
        except MLError:
            logger.warning("image %s could not be read for suggestions", image.id)
            predictions = []
        rows.extend(_rows(iteration, image, predictions, tags))
    with transaction.atomic():
        Suggestion.objects.bulk_create(rows, ignore_conflicts=True)  # a concurrent run may have written some
    return len(missing)


def suggestions_for(*, iteration: Iteration, images: Sequence[Image]) -> dict[uuid.UUID, list[dict[str, Any]]]:
    """{image id: [{"tag", "probability", "box"}]} (by probability, descending) in the model's tag names: the
    Azure endpoints' predictions, computed for images that have none yet."""
    for start in range(0, len(images), BATCH):
        suggestions_compute(iteration=iteration, images=images[start : start + BATCH])
    names = {t.id: name for name, t in _snapshot_tags(iteration).items()}
    out: dict[uuid.UUID, list[dict[str, Any]]] = {i.id: [] for i in images}
    rows = Suggestion.objects.filter(iteration=iteration, image_id__in=list(out))
    for row in rows.values("image_id", "tag_id", "confidence", "boxes"):
        name = names.get(row["tag_id"])
        if name is None:
            continue
        if iteration.project_type == "detection":
            out[row["image_id"]] += [{"tag": name, "probability": b["probability"], "box": b["box"]}
                                     for b in row["boxes"]]
        else:
            out[row["image_id"]].append({"tag": name, "probability": row["confidence"], "box": None})
    for preds in out.values():
        preds.sort(key=lambda p: -p["probability"])
    return out


# ---------------------------------------------------------------------------------------------- background run


def suggestion_run_start(*, iteration: Iteration) -> SuggestionRun:
    """Start (or restart) the background run over every untagged image; a run in progress is left alone."""
    _check_trained(iteration)
    from health.suggestions_tasks import suggestions_fill

    with transaction.atomic():
        run, created = SuggestionRun.objects.select_for_update().get_or_create(iteration=iteration)
        if not created and run.active and run.updated > timezone.now() - LOST_AFTER:
            return run
        total = untagged_images(project=iteration.project).count()
        run.status, run.total, run.done, run.error, run.finished = SuggestionRun.Status.QUEUED, total, 0, "", None
        run.updated = timezone.now()
        run.save()
        transaction.on_commit(lambda: suggestions_fill.delay(str(iteration.id)))
    return run


def suggestion_run_execute(*, iteration_id: uuid.UUID | str) -> None:
    """The run's body (on a worker): every untagged image, in batches, progress saved after each batch."""
    run = SuggestionRun.objects.select_related("iteration__project").filter(iteration_id=iteration_id).first()
    if run is None:
        return
    iteration = run.iteration
    ids = list(untagged_images(project=iteration.project).values_list("id", flat=True))
    SuggestionRun.objects.filter(id=run.id).update(status=SuggestionRun.Status.RUNNING, total=len(ids), done=0,
                                                   updated=timezone.now())
    try:
        for start in range(0, len(ids), BATCH):
            batch = list(Image.objects.filter(id__in=ids[start : start + BATCH]))
            suggestions_compute(iteration=iteration, images=batch)
            SuggestionRun.objects.filter(id=run.id).update(done=min(len(ids), start + BATCH), updated=timezone.now())
    except SuggestionError as exc:
        SuggestionRun.objects.filter(id=run.id).update(status=SuggestionRun.Status.FAILED, error=exc.message,
                                                       finished=timezone.now())
        return
    except Exception:
        logger.exception("suggestions for %s failed", iteration_id)
        SuggestionRun.objects.filter(id=run.id).update(status=SuggestionRun.Status.FAILED,
                                                       error="The suggestions could not be computed.",
                                                       finished=timezone.now())
        raise
    SuggestionRun.objects.filter(id=run.id).update(status=SuggestionRun.Status.DONE, finished=timezone.now())


# ---------------------------------------------------------------------------------------------- the portal's groups


@dataclass
class SuggestedImage:
    image: Image
    tag: Tag
    confidence: float


@dataclass
class SuggestionGroup:
    tag: Tag
    items: list[SuggestedImage] = field(default_factory=list)
    color: str = ""  # the tag's colour in the labeler (set by the view)

    @property
    def mean(self) -> float:
        return sum(i.confidence for i in self.items) / len(self.items) if self.items else 0.0


@dataclass
class SuggestionGroups:
    groups: list[SuggestionGroup]
    below: int  # untagged images whose best suggestion is under the threshold
    pending: int  # untagged images with no suggestion yet (run the suggestions)


def suggestion_groups(*, iteration: Iteration, threshold: float = 0.0, order: str = "uncertain",
                      limit: int = 60) -> SuggestionGroups:
    """Untagged images grouped by their most likely tag (at ``threshold`` or above), ``limit`` per group,
    most uncertain (lowest confidence) or most confident first; groups by size, largest first."""
    untagged = untagged_images(project=iteration.project).order_by()
    rows = (Suggestion.objects.filter(iteration=iteration, image__in=untagged.values("id"))
            .exclude(tag__type=Tag.TagType.NEGATIVE)
            .select_related("image", "tag").order_by("image_id", "-confidence", "tag_id"))
    best: dict[uuid.UUID, Suggestion] = {}
    for row in rows:
        if row.sha256 == row.image.sha256:
            best.setdefault(row.image_id, row)
    groups: dict[uuid.UUID, SuggestionGroup] = {}
    below = 0
    for row in best.values():
        if row.confidence < threshold:
            below += 1
            continue
        groups.setdefault(row.tag_id, SuggestionGroup(row.tag)).items.append(
            SuggestedImage(row.image, row.tag, row.confidence))
    for group in groups.values():
        group.items.sort(key=lambda i: (i.confidence if order != "confident" else -i.confidence, str(i.image.id)))
        del group.items[limit:]
    ordered = sorted(groups.values(), key=lambda g: (-len(g.items), g.tag.name.lower()))
    return SuggestionGroups(ordered, below, untagged.count() - len(best))


def suggestion_confirm(*, project: Project, image_ids: Iterable[Any], tag: Tag) -> int:
    """Tag the images with ``tag`` (a suggestion confirmed, or corrected to another tag) as the portal tags
    them; their suggestions go (they are tagged now). Returns the number of images tagged."""
    if project.is_detection:
        raise SuggestionError("Detection images get their tags from their boxes: use the labeler.")
    if tag.project_id != project.id:
        raise SuggestionError("That tag is not in this project.", code="NotFoundTag")
    ids = list(project.images.filter(id__in=list(image_ids)).values_list("id", flat=True))
    if not ids:
        raise SuggestionError("No images of this project were chosen.", code="BadRequestImageBatch")
    with transaction.atomic():
        images_tag_set(project=project, image_ids=ids, tag_id=tag.id)
        Suggestion.objects.filter(image_id__in=ids).delete()
    return len(ids)
