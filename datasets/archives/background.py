"""Importing an archive in the background: what the worker runs (``queue`` hands it over)."""

from __future__ import annotations

import logging
from typing import Any

from django.core.files.storage import default_storage
from django.utils import timezone

from datasets.archives.format import ArchiveError
from datasets.archives.imports import archive_import
from datasets.archives.models import ArchiveImport
from projects.errors import ProjectsError
from workspaces import audit

logger = logging.getLogger(__name__)


def archive_import_run(*, archive_import_id: Any) -> None:
    """Import a queued archive (as its requester, for the audit log); the result or the reason goes on the row."""
    job = ArchiveImport.objects.select_related("created_by").filter(id=archive_import_id).first()
    if job is None or job.status != ArchiveImport.Status.QUEUED:
        return
    ArchiveImport.objects.filter(id=job.id).update(status=ArchiveImport.Status.RUNNING)
    user = job.created_by
    actor = audit.Actor(user.pk, user.get_username()) if user is not None else audit.current_actor()
    try:
        with audit.acting_as(actor), default_storage.open(job.upload, "rb") as handle:
            project, _ = archive_import(source=handle, workspace=job.workspace_id, created_by=job.created_by,
                                        name=job.name)
    except (ArchiveError, ProjectsError) as exc:
        _finish(job, status=ArchiveImport.Status.FAILED, error=exc.message)
    except Exception:
        logger.exception("archive import %s failed", job.id)
        _finish(job, status=ArchiveImport.Status.FAILED, error="The import failed on the server; nothing was kept.")
        raise
    else:
        _finish(job, status=ArchiveImport.Status.DONE, project=project)


def _finish(job: ArchiveImport, *, status: str, error: str = "", project: Any = None) -> None:
    ArchiveImport.objects.filter(id=job.id).update(status=status, error=error, project=project,
                                                    finished=timezone.now())
    try:
        default_storage.delete(job.upload)
    except OSError:
        logger.warning("could not delete the imported archive %s", job.upload)
