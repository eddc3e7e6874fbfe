"""Handing a big archive's import to a worker (it runs ``background.archive_import_run``)."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from datasets.archives.models import ArchiveImport
from datasets.archives.tasks import import_archive as import_archive_task


def archive_import_queue(*, upload: str, workspace_id: Any, created_by: Any, name: str, filename: str,
                         counts: dict[str, int]) -> ArchiveImport:
    """Record the import and hand it to a worker once the row is committed."""
    job = ArchiveImport.objects.create(workspace_id=workspace_id, created_by=created_by, upload=upload,
                                       filename=filename[:255], name=name[:200], counts=counts)
    transaction.on_commit(lambda: import_archive_task.delay(str(job.id)))
    return job
