"""Celery task of the dataset formats: a thin wrapper around datasets.formats.services.import_job_run."""

from __future__ import annotations

from celery import shared_task


# celery ships no type hints: shared_task is an untyped decorator.
@shared_task(acks_late=True, max_retries=0, ignore_result=True)  # type: ignore[untyped-decorator]
def dataset_import(job: str, project_id: str, format: str, path: str, name: str) -> None:  # noqa: A002
    from datasets.formats.services import import_job_run  # the worker loads tasks before Django apps

    import_job_run(job=job, project_id=project_id, format=format, path=path, name=name)
