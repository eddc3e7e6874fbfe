"""Celery tasks of the prediction side (thin wrappers): build an export, clean up old stored predictions.

Registered through ``training/tasks.py`` (Celery autodiscovers only ``tasks`` modules). The cleanup runs
opportunistically on every worker, at most once an hour, from the heartbeat's after-beat hook, so the embedded
profile needs no ``celery beat``. Production may instead schedule ``training.tasks_predictions.predictions_cleanup``
with celery beat (e.g. CELERY_BEAT_SCHEDULE = {"predictions-cleanup": {"task": "...predictions_cleanup",
"schedule": 3600}}).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from celery import shared_task

logger = logging.getLogger(__name__)

CLEANUP_EVERY_SECONDS = 3600.0
_last_cleanup = {"at": float("-inf")}
_cleanup_lock = threading.Lock()


@shared_task(acks_late=True, max_retries=0, ignore_result=True)
def export_iteration(export_id: str) -> None:
    from training.exports import export_build

    export_build(export_id=export_id)


@shared_task(ignore_result=True)
def predictions_cleanup() -> int:
    from training.predictions import predictions_cleanup as cleanup

    return cleanup()


def cleanup_after_beat(*, hostname: str = "", now: float | None = None, background: bool = True) -> bool:
    """The heartbeat hook: start the retention cleanup when the last run in this process is over an hour old.

    It runs in its own thread so a long cleanup never delays a heartbeat (a late heartbeat reads as a lost worker).
    """
    now = time.monotonic() if now is None else now
    with _cleanup_lock:
        if now - _last_cleanup["at"] < CLEANUP_EVERY_SECONDS:
            return False
        _last_cleanup["at"] = now
    if background:
        threading.Thread(target=_cleanup, args=(hostname, True), name="tagsight-prediction-cleanup",
                         daemon=True).start()
    else:
        _cleanup(hostname, False)
    return True


def _cleanup(hostname: str, own_thread: bool) -> None:
    from django.db import connection

    try:
        from training.predictions import predictions_cleanup as cleanup

        cleanup()
    except Exception:  # never break the worker
        logger.exception("prediction cleanup on %s failed", hostname)
    finally:
        if own_thread:
            connection.close()  # the thread's own connection


def _register_hook() -> None:
    from training import heartbeat

    hooks: list[Any] = heartbeat._after_beat_hooks
    if cleanup_after_beat not in hooks:
        hooks.append(cleanup_after_beat)


_register_hook()
