"""Celery tasks of notifications: thin wrappers around its services (autodiscovered by Celery)."""

from __future__ import annotations

from celery import shared_task


# celery ships no type hints: shared_task is an untyped decorator.
@shared_task(ignore_result=True)  # type: ignore[untyped-decorator]
def webhook_deliver(delivery_id: str) -> None:
    from notifications.services import delivery_attempt

    delivery_attempt(delivery_id=delivery_id)


# celery ships no type hints: shared_task is an untyped decorator.
@shared_task(ignore_result=True)  # type: ignore[untyped-decorator]
def training_email(iteration_id: str) -> None:
    from notifications.services import training_email_send

    training_email_send(iteration_id=iteration_id)
