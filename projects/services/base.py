"""Helpers shared by the services: name cleaning, id parsing (stored files: projects.storage)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from projects import errors
from projects.models import Tag


def clean_name(name: str, error: type[errors.ProjectsError], what: str) -> str:
    name = (name or "").strip()
    if not name:
        raise error(f"The {what} name is required.")
    if len(name) > 200:
        raise error(f"The {what} name is longer than 200 characters.")
    return name


def as_uuid(value: Any) -> UUID:
    if isinstance(value, Tag):
        return value.id
    return value if isinstance(value, UUID) else UUID(str(value))
