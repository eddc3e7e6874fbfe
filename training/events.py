"""What happened to an iteration, for whoever listens: a small registry that a higher app fills in its ready().

``emit`` calls the listeners once the current transaction commits (at once outside one), each with the event name
and the ids it is about. A listener that raises is logged and never reaches the caller: a training, a publish or
an export never fails because a notification could not be sent. ``notifications`` listens (e-mail, webhooks).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

from django.db import transaction

logger = logging.getLogger(__name__)

TRAINING_COMPLETED = "training.completed"
TRAINING_FAILED = "training.failed"
EXPORT_READY = "export.ready"
ITERATION_PUBLISHED = "iteration.published"
ITERATION_UNPUBLISHED = "iteration.unpublished"
EVENTS = (TRAINING_COMPLETED, TRAINING_FAILED, EXPORT_READY, ITERATION_PUBLISHED, ITERATION_UNPUBLISHED)

Listener = Callable[..., None]  # listener(event, *, iteration_id, export_id=None)
_listeners: list[Listener] = []


def listener_add(listener: Listener) -> None:
    if listener not in _listeners:
        _listeners.append(listener)


def emit(event: str, *, iteration_id: uuid.UUID | str, export_id: uuid.UUID | str | None = None) -> None:
    """Tell every listener about ``event`` once the current transaction commits."""
    if event not in EVENTS:
        raise ValueError(f"Unknown event {event!r}: add it to training.events.EVENTS")
    refs: dict[str, Any] = {"iteration_id": str(iteration_id), "export_id": str(export_id) if export_id else None}
    transaction.on_commit(lambda: _dispatch(event, refs))


def _dispatch(event: str, refs: dict[str, Any]) -> None:
    for listener in list(_listeners):
        try:
            listener(event, **refs)
        except Exception:  # noqa: BLE001 - a listener's failure must never fail the work that emitted the event
            logger.exception("listener %r failed on %s %s", listener, event, refs)
