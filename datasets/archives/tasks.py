"""Celery task of project archives: a big archive is imported by a worker."""

from __future__ import annotations

from celery import shared_task


# celery ships no type hints: shared_task is an untyped decorator.
@shared_task(bind=True, acks_late=True, max_retries=0, ignore_result=True)  # type: ignore[untyped-decorator]
def import_archive(self, archive_import_id: str) -> None:  # type: ignore[no-untyped-def]
    from datasets.archives.background import archive_import_run  # service import inside the task avoids cycles

    archive_import_run(archive_import_id=archive_import_id, worker_hostname=self.request.hostname or "")
