"""Copying a project: Azure's export_project / import_project token pair answers with a copy made here.

There is one way to copy a project: write its archive and import it (``datasets.archives``), all or nothing and
with every quota applied. ``projects`` sits below ``datasets`` and may not import it, so ``datasets`` installs the
copier from its AppConfig.ready (:func:`project_copier_set`) and the projects API calls :func:`project_copy`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from projects.models import Project

ProjectCopier = Callable[..., Project]
_copier: list[ProjectCopier] = []


def project_copier_set(copier: ProjectCopier) -> None:
    """Install ``copier(*, source, workspace, name) -> Project`` (raises projects.errors when it refuses)."""
    _copier[:] = [copier]


def project_copy(*, source: Project, workspace: Any, name: str) -> Project:
    """A new project of ``workspace`` named ``name`` with ``source``'s settings, tags, images, boxes and metadata."""
    if not _copier:
        raise RuntimeError("No project copier is installed (the datasets app's AppConfig.ready installs it).")
    return _copier[0](source=source, workspace=workspace, name=name)
