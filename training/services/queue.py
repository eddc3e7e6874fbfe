"""Queue an iteration: Azure's checks, the frozen snapshot, then the Celery task once the transaction commits."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Collection
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Max

from projects.domains import DOMAINS_BY_ID
from projects.models import Project
from training import errors, selectors
from training.models import Iteration
from training.services.snapshot import snapshot_fingerprint, snapshot_take, snapshot_validate
from workspaces import audit

logger = logging.getLogger(__name__)

Status = Iteration.Status
MAX_BUDGET_MINUTES = 24 * 60


def code_version() -> str:
    """This server's version, as iterations and archives record it (TAGSIGHT_CODE_VERSION, else the package's)."""
    from importlib import metadata

    version = os.environ.get("TAGSIGHT_CODE_VERSION", "")
    if version:
        return version
    try:
        return metadata.version("tagsight")
    except metadata.PackageNotFoundError:
        return "dev"


def iteration_queue(
    *,
    project: Project,
    requested_by: Any = None,
    training_type: str = Iteration.TrainingType.REGULAR,
    budget_minutes: int = 0,
    force: bool = False,
    selected_tag_ids: Collection[uuid.UUID | str] | None = None,
    notification_email: str = "",
) -> Iteration:
    """Check the dataset as Azure does, create the Iteration (Training, queued) and hand it to a worker.

    ``selected_tag_ids`` (Azure's selectedTags): train, and check the minimums, on those tags only.
    ``notification_email`` is stored on the iteration for the training-finished mail.
    """
    notification_email = (notification_email or "").strip()
    if notification_email:
        try:
            if len(notification_email) > 254:  # the column's (and RFC 5321's) limit
                raise ValidationError("too long")
            validate_email(notification_email)
        except ValidationError:
            raise errors.InvalidEmailAddress(f"{notification_email!r} is not an email address.") from None
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
        if selectors.iteration_in_progress(project=project) is not None:  # reaps a lost worker's first
            raise errors.TrainingAlreadyInProgress(
                "A training of this project is already in progress; wait for it or cancel it."
            )
        _check_iteration_limit(project=project)
        snapshot = snapshot_take(project=project, tag_ids=selected_tag_ids)
        snapshot_validate(project=project, snapshot=snapshot)
        fingerprint = snapshot_fingerprint(snapshot=snapshot, project=project, training_type=training_type)
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
            notification_email=notification_email,
            domain_id=project.domain_id,
            backbone=domain.backbone,
            project_type=project.project_type,
            classification_type="" if project.is_detection else project.classification_type,
            snapshot=snapshot,
            fingerprint=fingerprint,
            image_count=len(snapshot["images"]),
            code_version=code_version(),
            task_id=str(uuid.uuid4()),
            stage="Queued: waiting for a worker",
        )
        audit.record(workspace_id=project.workspace_id, action="iteration.train", project=project,
                     iteration=iteration.name, training_type=training_type)
        transaction.on_commit(lambda: _schedule(iteration=iteration))
    logger.info("iteration %s queued for project %s (%s)", iteration.id, project.id, training_type)
    return iteration


def _check_iteration_limit(*, project: Project) -> None:
    """Azure keeps at most 20 iterations per project and refuses to train another: delete an old one first."""
    limit = settings.TAGSIGHT_MAX_ITERATIONS_PER_PROJECT
    count = Iteration.objects.filter(project=project).count() if limit > 0 else 0
    if limit > 0 and count >= limit:
        raise errors.IterationLimitExceeded(
            f"This project keeps at most {limit} iterations and has {count}. Delete an iteration you no longer "
            "need (unpublish it first if it is published) before training again."
        )


def _schedule(*, iteration: Iteration) -> None:
    from training.tasks import train_iteration as train_iteration_task

    # An advanced budget may outlast the default hard limit: give the task its budget plus half an hour.
    time_limit = max(int(settings.CELERY_TASK_TIME_LIMIT), iteration.budget_minutes * 60 + 1800)
    train_iteration_task.apply_async(
        args=[str(iteration.id)], task_id=iteration.task_id, queue="training", time_limit=time_limit
    )
