"""A project copied through its archive: the copier ``projects.copying`` calls (Azure's import_project)."""

from __future__ import annotations

import tempfile
from typing import Any

from django.conf import settings

from datasets.archives.export import archive_chunks
from datasets.archives.format import ArchiveError
from datasets.archives.imports import archive_import
from projects.errors import ProjectsError
from projects.models import Project


class CopyRefused(ProjectsError):
    """The copy would break a rule of the target (a quota); nothing was copied."""

    code = "BadRequest"


def archive_copy(*, source: Project, workspace: Any, name: str, include_iterations: bool = False) -> Project:
    """Write ``source``'s archive to a temporary file (on disk, never in memory) and import it into ``workspace``."""
    with tempfile.TemporaryFile(dir=settings.DATA_DIR if settings.DATA_DIR.exists() else None) as tmp:
        for chunk in archive_chunks(project=source, include_iterations=include_iterations):
            tmp.write(chunk)
        tmp.seek(0)
        try:
            project, _ = archive_import(source=tmp, workspace=workspace, name=name)
        except ArchiveError as exc:
            raise CopyRefused(exc.message) from exc
    return project
