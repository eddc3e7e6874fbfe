"""Importing an archive in the background: what the worker runs (``queue`` hands it over)."""

from __future__ import annotations

import logging
import os
import uuid
from typing import Any

from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from datasets.archives.format import ArchiveError
from datasets.archives.imports import archive_import
from datasets.archives.models import ArchiveImport
from projects.errors import ProjectsError
from projects.models import Project
from projects.storage import storage_delete_tree
from workspaces import audit

logger = logging.getLogger(__name__)


def archive_import_run(*, archive_import_id: Any, worker_hostname: str = "") -> None:
    """Import a queued archive (as its requester, for the audit log); the result or the reason goes on the row.

    The worker claims the row with its hostname and pids, so :func:`archives_reap_lost` can queue the import again
    if that worker dies (an archive import writes its rows in one transaction: a killed one left no project, only
    image files, which are removed when it is queued again)."""
    now = timezone.now()
    project_id = uuid.uuid4()  # recorded first, so a lost run's files can be found
    claimed = ArchiveImport.objects.filter(id=archive_import_id, status=ArchiveImport.Status.QUEUED).update(
        status=ArchiveImport.Status.RUNNING, started=now, worker_hostname=worker_hostname[:255], writing=project_id,
        worker_pid=os.getpid() if worker_hostname else 0, worker_parent_pid=os.getppid() if worker_hostname else 0)
    if not claimed:  # finished, or already picked up by another worker
        logger.info("archive import %s is not queued any more; skipping", archive_import_id)
        return
    job = ArchiveImport.objects.select_related("created_by").get(id=archive_import_id)
    user = job.created_by
    actor = audit.Actor(user.pk, user.get_username()) if user is not None else audit.current_actor()
    try:
        with audit.acting_as(actor), default_storage.open(job.upload, "rb") as handle:
            project, _ = archive_import(source=handle, workspace=job.workspace_id, created_by=job.created_by,
                                        name=job.name, project_id=project_id)
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
    _drop_upload(job)


def _drop_upload(job: ArchiveImport) -> None:
    try:
        default_storage.delete(job.upload)
    except OSError:
        logger.warning("could not delete the imported archive %s", job.upload)


# A worker lost this many times on one archive (say, killed for memory by the same archive each time): Failed.
MAX_RESUMES = 3


def archives_reap_lost(*, local_hostname: str | None = None, job: ArchiveImport | None = None) -> int:
    """Queue again the running imports whose worker is gone (training's lost-worker rule); returns how many.

    The archive is still stored (it is deleted only once imported). The project a lost run was writing either
    exists whole (its rows are written in one transaction: the worker died after it committed, so the import is
    Done) or as image files only, which are removed before the import is queued again. After MAX_RESUMES losses
    the import is Failed, with the reason."""
    from training.services.reaper import jobs_lost

    running = ArchiveImport.objects.filter(status=ArchiveImport.Status.RUNNING).exclude(worker_hostname="")
    if job is not None:
        running = running.filter(pk=job.pk)
    running_list = list(running)
    if not running_list:
        return 0
    now = timezone.now()
    lost = jobs_lost(running_list, now=now, local_hostname=local_hostname)
    return sum(1 for job, reason in lost if _requeue(job, reason, now))


def _requeue(lost: ArchiveImport, reason: str, now: Any) -> bool:
    """Done (its project was committed), Failed (lost too often) or Queued again; False if someone else moved it."""
    claimed = ArchiveImport.objects.filter(pk=lost.pk, status=ArchiveImport.Status.RUNNING, started=lost.started)
    written = Project.objects.filter(pk=lost.writing).first() if lost.writing else None
    if written is not None:
        if claimed.update(status=ArchiveImport.Status.DONE, project=written, finished=now):
            logger.warning("archive import %s: worker lost (%s) after its project was written", lost.pk, reason)
            _drop_upload(lost)
            return True
        return False
    if lost.resumed + 1 >= MAX_RESUMES:
        if not claimed.update(status=ArchiveImport.Status.FAILED, finished=now, error=(
                f"The worker importing it stopped {lost.resumed + 1} times (last: {reason}).")):
            return False
        logger.warning("archive import %s: worker %s lost (%s); failed", lost.pk, lost.worker_hostname, reason)
        _drop_upload(lost)
    else:
        with transaction.atomic():
            if not claimed.update(status=ArchiveImport.Status.QUEUED, started=None, worker_hostname="", worker_pid=0,
                                  worker_parent_pid=0, writing=None, resumed=F("resumed") + 1):
                return False
            logger.warning("archive import %s: worker %s lost (%s); queued again", lost.pk, lost.worker_hostname,
                           reason)
            transaction.on_commit(lambda job_id=lost.pk: _schedule(job_id))  # type: ignore[misc]
    if lost.writing:
        storage_delete_tree(f"projects/{lost.writing}")  # the lost run's image files (no row points at them)
    return True


def _schedule(job_id: Any) -> None:
    from datasets.archives.tasks import import_archive

    import_archive.delay(str(job_id))
