"""Celery tasks of the training app: thin wrappers around training.services."""

from __future__ import annotations

from typing import Any

from celery import shared_task


# celery ships no type hints: shared_task is an untyped decorator.
@shared_task(bind=True, acks_late=True, max_retries=0, ignore_result=True)  # type: ignore[untyped-decorator]
def train_iteration(self: Any, iteration_id: str) -> None:
    from training.services.run import iteration_run  # imported here: the worker loads tasks before Django apps

    iteration_run(iteration_id=iteration_id, worker_hostname=self.request.hostname or "")

