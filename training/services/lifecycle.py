"""An iteration's life after queueing: finish, cancel, delete, rename, publish, unpublish; and the gallery's retag."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from projects.models import Image, Project
from training import errors, events
from training.models import Iteration
from training.storage import artifact_delete
from workspaces import audit

logger = logging.getLogger(__name__)

Status = Iteration.Status


def _record(iteration: Iteration, action: str, **detail: Any) -> None:
    project = iteration.project
    audit.record(workspace_id=project.workspace_id, action=action, project=project, iteration=iteration.name, **detail)


def iteration_finish(iteration_id: uuid.UUID, status: str, **fields: Any) -> bool:
    """Move a Training iteration to its final state; False if someone (cancel, reaper) got there first."""
    now = timezone.now()
    done = bool(
        Iteration.objects.filter(id=iteration_id, status=Status.TRAINING).update(
            status=status, finished=now, modified=now, **fields
        )
    )
    # A user's cancel is no news to them: only a completed or failed training is announced (e-mail, webhooks).
    if done and status in (Status.COMPLETED, Status.FAILED):
        events.emit(events.TRAINING_COMPLETED if status == Status.COMPLETED else events.TRAINING_FAILED,
                    iteration_id=iteration_id)
    return done


def iteration_cancel(*, iteration: Iteration) -> Iteration:
    """Stop a queued or running training. Queued: never starts. Running: the worker stops at its next check."""
    stage = "Cancelling: waiting for the worker to stop" if iteration.started else "Cancelled before it started"
    with transaction.atomic():
        if Iteration.objects.filter(id=iteration.id, status=Status.TRAINING).update(
            status=Status.CANCELLED, stage=stage, finished=timezone.now(), modified=timezone.now()
        ):
            _record(iteration, "iteration.cancel")
    iteration.refresh_from_db()
    return iteration


def iteration_delete(*, iteration: Iteration) -> None:
    """Delete an iteration and its model (a published one must be unpublished first; a running one is cancelled)."""
    if iteration.is_published:
        raise errors.IterationIsPublished(
            f"{iteration.name} is published as {iteration.publish_name!r}; unpublish it before deleting."
        )
    path, kind = iteration.artifact_path, iteration.artifact_kind
    with transaction.atomic():
        _record(iteration, "iteration.delete")
        iteration.delete()  # a running worker sees the row gone at its next cancel check
        transaction.on_commit(lambda: artifact_delete(path=path, kind=kind))


def project_check_unpublished(*, project: Project) -> None:
    """A project with a published iteration cannot be deleted (Azure's rule): unpublish it first."""
    published = list(
        Iteration.objects.filter(project=project, publish_name__isnull=False).order_by("number")
        .values_list("name", "publish_name")
    )
    if published:
        names = ", ".join(f"{name} (as {publish_name!r})" for name, publish_name in published)
        raise errors.IterationIsPublished(
            f"This project has published iterations: {names}. Unpublish them before deleting the project."
        )


def iteration_rename(*, iteration: Iteration, name: str) -> Iteration:
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise errors.IterationNameInvalid("An iteration name needs 1 to 200 characters.")
    if Iteration.objects.filter(project_id=iteration.project_id, name__iexact=name).exclude(id=iteration.id).exists():
        raise errors.IterationNameNotUnique(f"Another iteration of this project is already called {name!r}.")
    was, iteration.name = iteration.name, name
    with transaction.atomic():
        iteration.save(update_fields=["name", "modified"])
        if name != was:
            _record(iteration, "iteration.rename", was=was)
    return iteration


def _check_publish_name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > 200 or any(c in name for c in "/\\?#%") or name != name.strip("."):
        raise errors.InvalidPublishName(
            "A publish name needs 1 to 200 characters and no '/', '\\', '?', '#' or '%'."
        )
    return name


def iteration_publish(*, iteration: Iteration, publish_name: str, overwrite: bool = False) -> Iteration:
    """Make a Completed iteration available to the prediction endpoint under ``publish_name`` (unique per project).

    A name another iteration of the project holds is refused, unless ``overwrite``: then the name moves here
    (the other one is unpublished in the same transaction, so predictions never see the name missing).
    """
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
    if taken is not None and not overwrite:
        raise errors.InvalidPublishName(
            f"{taken.name} is already published as {publish_name!r}; unpublish it first, or overwrite."
        )
    iteration.publish_name, iteration.published_at = publish_name, timezone.now()
    try:
        with transaction.atomic():
            if taken is not None:
                Iteration.objects.filter(id=taken.id, publish_name=publish_name).update(
                    publish_name=None, published_at=None, modified=timezone.now()
                )
            iteration.save(update_fields=["publish_name", "published_at", "modified"])
            _record(iteration, "iteration.publish", publish_name=publish_name)
            if taken is not None:
                events.emit(events.ITERATION_UNPUBLISHED, iteration_id=taken.id)
            events.emit(events.ITERATION_PUBLISHED, iteration_id=iteration.id)
    except IntegrityError:
        raise errors.InvalidPublishName(f"Another iteration is already published as {publish_name!r}.") from None
    return iteration


def iteration_unpublish(*, iteration: Iteration) -> Iteration:
    if not iteration.is_published:
        raise errors.IterationNotPublished(f"{iteration.name} is not published.")
    was, iteration.publish_name, iteration.published_at = iteration.publish_name, None, None
    with transaction.atomic():
        iteration.save(update_fields=["publish_name", "published_at", "modified"])
        _record(iteration, "iteration.unpublish", publish_name=was)
        events.emit(events.ITERATION_UNPUBLISHED, iteration_id=iteration.id)
    return iteration


def image_retag(*, project: Project, image_id: Any, tag_id: Any, mode: str = "set") -> None:
    """One-click fix from the error gallery: ``set`` the image's only tag, ``add`` a tag, or ``remove`` one.

    Classification only: a detection image's tags come from its boxes, and untagging it deletes them.
    """
    from projects.services import images_tag, images_untag

    if project.is_detection:
        raise errors.ImageRetagNotForDetection(
            "A detection image is labelled by its boxes: fix them in the labeler, not by retagging the image."
        )
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
