"""Celery task of the Custom Vision import: a thin wrapper around the service."""

from __future__ import annotations

from typing import Any

from celery import shared_task


# acks_late: a message taken by a worker that dies is not lost where the broker redelivers it; the job runs once
# anyway (the service claims it), and the lost-worker check queues it again where the broker does not.
@shared_task(bind=True, acks_late=True, max_retries=0, ignore_result=True)  # type: ignore[untyped-decorator]
def import_customvision(self: Any, job_id: str) -> None:
    from datasets.customvision.services import import_run  # here: the worker loads tasks before Django apps

    import_run(job_id=job_id, worker_hostname=self.request.hostname or "")
