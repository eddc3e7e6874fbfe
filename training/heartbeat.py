"""Worker heartbeats: each Celery worker process records that it is alive every few seconds."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from typing import Any

from django.db import close_old_connections
from django.utils import timezone

logger = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 5.0


def heartbeat_beat(*, hostname: str, queues: str = "") -> None:
    """Record one heartbeat for ``hostname`` (then let the reaper look for lost iterations)."""
    from training.models import WorkerHeartbeat

    WorkerHeartbeat.objects.update_or_create(
        hostname=hostname, defaults={"pid": os.getpid(), "queues": queues, "last_seen": timezone.now()}
    )
    for hook in _after_beat_hooks:
        hook(hostname=hostname)


# Called with ``hostname=`` after each beat; apps add theirs in AppConfig.ready (training: the reaper,
# predictions: the retention cleanup).
_after_beat_hooks: list[Callable[..., Any]] = []


def heartbeat_hook_add(hook: Callable[..., Any]) -> None:
    """Run ``hook(hostname=...)`` after every heartbeat of this process (idempotent)."""
    if hook not in _after_beat_hooks:
        _after_beat_hooks.append(hook)


def heartbeat_start(*, hostname: str, queues: str = "", interval: float = HEARTBEAT_SECONDS) -> threading.Event:
    """Start a daemon thread beating every ``interval`` seconds; set the returned event to stop it."""
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            try:
                close_old_connections()
                heartbeat_beat(hostname=hostname, queues=queues)
            except Exception:  # the database may be briefly unavailable; keep beating
                logger.exception("heartbeat for %s failed", hostname)
            stop.wait(interval)

    threading.Thread(target=run, name="tagsight-heartbeat", daemon=True).start()
    return stop
