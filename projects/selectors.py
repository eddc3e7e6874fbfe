"""Read-side queries for projects, tags and images; every one is scoped to a user."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from projects.models import Project


def project_list_for(*, user: Any) -> QuerySet[Project]:
    """Projects the user owns (a stranger never sees them)."""
    return Project.objects.filter(owner=user)
