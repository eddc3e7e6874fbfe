"""The lost-worker reaper: fail running iterations whose worker is gone.

Wired to heartbeats in TrainingConfig.ready.
"""

from __future__ import annotations

import logging
import os
from datetime import timedelta

from django.utils import timezone

from projects.models import Project
from training.models import Iteration, WorkerHeartbeat
from training.services.lifecycle import iteration_finish

logger = logging.getLogger(__name__)

Status = Iteration.Status
LOST_AFTER_SECONDS = 30  # a worker whose heartbeat (every 5 s) is older than this is gone


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def iterations_reap_lost(
    *, project: Project | None = None, local_hostname: str | None = None, stale_seconds: int = LOST_AFTER_SECONDS
) -> int:
    """Mark running iterations whose worker is gone as Failed ("worker lost"); returns how many.

    A worker is gone when its heartbeat is older than ``stale_seconds`` or missing, when its heartbeat row
    now belongs to a new process (restarted under the same hostname), or — checked only by the worker on
    that very machine (``local_hostname``) — when the pool process running the job no longer exists.
    """
    now = timezone.now()
    running = Iteration.objects.filter(status=Status.TRAINING, started__isnull=False)
    if project is not None:
        running = running.filter(project=project)
    running_list = list(running.only("id", "started", "worker_hostname", "worker_pid", "worker_parent_pid"))
    if not running_list:
        return 0
    beats = {b.hostname: b for b in WorkerHeartbeat.objects.filter(
        hostname__in={i.worker_hostname for i in running_list})}
    stale = now - timedelta(seconds=stale_seconds)
    reaped = 0
    for it in running_list:
        beat = beats.get(it.worker_hostname)
        if beat is None:
            reason = "no heartbeat" if it.started and it.started < stale else ""
        elif beat.last_seen < stale:
            reason = f"last heartbeat {int((now - beat.last_seen).total_seconds())} s ago"
        elif beat.pid not in (it.worker_pid, it.worker_parent_pid) and it.started and beat.last_seen > it.started:
            reason = "the worker restarted"
        elif local_hostname == it.worker_hostname and it.worker_pid and not _pid_alive(it.worker_pid):
            reason = "the pool process died"
        else:
            reason = ""
        if reason and iteration_finish(
            it.id, Status.FAILED, stage="Failed", error_code="ErrorWorkerLost",
            error=f"Worker lost: {it.worker_hostname or 'the worker'} stopped during training ({reason}). "
            "Train again when a worker is running.",
        ):
            reaped += 1
            logger.warning("iteration %s: worker %s lost (%s)", it.id, it.worker_hostname, reason)
    return reaped
