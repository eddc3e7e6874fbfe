"""Celery task of Data Health: a thin wrapper around health.datahealth (registered by HealthConfig.ready)."""

from __future__ import annotations

from typing import Any

from celery import shared_task


# On the training queue: it embeds images like a training does, on the workers that have the models.
@shared_task(bind=True, acks_late=True, max_retries=0, ignore_result=True, queue="training")  # type: ignore[untyped-decorator]
def check_data_health(self: Any, run_id: int) -> None:
    from health.datahealth import datahealth_run  # imported here: the worker loads tasks before Django apps

    datahealth_run(run_id=run_id)
