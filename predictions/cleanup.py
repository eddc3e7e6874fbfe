"""Retention cleanup of stored predictions, run opportunistically from every worker's heartbeat.

``cleanup_after_beat`` is added to the heartbeat's after-beat hooks by ``PredictionsConfig.ready`` (worker side),
at most once an hour per process, so the embedded profile needs no ``celery beat``. Production may instead
schedule ``predictions.tasks.predictions_cleanup`` with celery beat (e.g. CELERY_BEAT_SCHEDULE =
{"predictions-cleanup": {"task": "predictions.tasks.predictions_cleanup", "schedule": 3600}}).
"""

from __future__ import annotations

import logging
import threading
import time

logger = logging.getLogger(__name__)

CLEANUP_EVERY_SECONDS = 3600.0
_last_cleanup = {"at": float("-inf")}
_cleanup_lock = threading.Lock()


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
        from predictions.services import predictions_cleanup

        predictions_cleanup()
    except Exception:  # never break the worker
        logger.exception("prediction cleanup on %s failed", hostname)
    finally:
        if own_thread:
            connection.close()  # the thread's own connection
