"""Celery task of the Smart Labeler: a thin wrapper (imported by health.suggestions_wiring so workers know it)."""

from __future__ import annotations

from celery import shared_task


# celery ships no type hints: shared_task is an untyped decorator.
@shared_task(acks_late=True, max_retries=0, ignore_result=True)  # type: ignore[untyped-decorator]
def suggestions_fill(iteration_id: str) -> None:
    from health.suggestions import suggestion_run_execute

    suggestion_run_execute(iteration_id=iteration_id)
