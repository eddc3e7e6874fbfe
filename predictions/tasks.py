"""Celery tasks of the predictions app: thin wrappers around its services (autodiscovered by Celery)."""

from __future__ import annotations

from celery import shared_task


# celery ships no type hints: shared_task is an untyped decorator.
@shared_task(acks_late=True, max_retries=0, ignore_result=True)  # type: ignore[untyped-decorator]
def export_iteration(export_id: str) -> None:
    from predictions.exports import export_build

    export_build(export_id=export_id)


# celery ships no type hints: shared_task is an untyped decorator.
@shared_task(ignore_result=True)  # type: ignore[untyped-decorator]
def predictions_cleanup() -> int:
    from predictions.services import predictions_cleanup as cleanup

    return cleanup()
