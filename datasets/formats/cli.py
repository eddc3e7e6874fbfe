"""What the two dataset commands share: finding the project and the iteration by id."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError

from projects.models import Project
from training.models import Iteration


def project_by_id(project_id: str) -> Project:
    try:
        return Project.objects.get(pk=project_id)
    except (Project.DoesNotExist, ValidationError, ValueError):
        raise CommandError(f"No project with id {project_id!r}.") from None


def iteration_by_id(project: Project, iteration_id: str) -> Iteration:
    try:
        return Iteration.objects.get(pk=iteration_id, project=project)
    except (Iteration.DoesNotExist, ValidationError, ValueError):
        raise CommandError(f"No iteration {iteration_id!r} in project {project.name!r}.") from None
