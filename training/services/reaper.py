"""The lost-worker reaper: fail running iterations whose worker is gone.

Wired to heartbeats in TrainingConfig.ready.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from django.utils import timezone

from projects.models import Project
from training.models import Iteration, WorkerHeartbeat
from training.services.lifecycle import iteration_finish

logger = logging.getLogger(__name__)

Status = Iteration.Status
LOST_AFTER_SECONDS = 30  # a worker whose heartbeat (every 5 s) is older than this is gone
_Claimed = TypeVar("_Claimed", bound=Any)  # a row a worker claimed: an iteration, an import


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def worker_lost_reason(
    *, hostname: str, pid: int, parent_pid: int, started: datetime | None, beat: WorkerHeartbeat | None,
    now: datetime, local_hostname: str | None = None, stale_seconds: int = LOST_AFTER_SECONDS,
) -> str:
    """Why the worker running a job (``hostname``, pool process ``pid`` under ``parent_pid``, since ``started``)
    is gone, or "" while it is alive. Shared by every background job that a worker claims (iterations, imports).

    Gone: its heartbeat is older than ``stale_seconds`` or missing, its heartbeat row now belongs to a new process
    (restarted under the same hostname), or (checked only by the worker on that very machine, ``local_hostname``)
    the pool process running the job no longer exists."""
    stale = now - timedelta(seconds=stale_seconds)
    if beat is None:
        return "no heartbeat" if started and started < stale else ""
    if beat.last_seen < stale:
        return f"last heartbeat {int((now - beat.last_seen).total_seconds())} s ago"
    if beat.pid not in (pid, parent_pid) and started and beat.last_seen > started:
        return "the worker restarted"
    if local_hostname == hostname and pid and not pid_alive(pid):
        return "the pool process died"
    return ""


def worker_beats(hostnames: set[str]) -> dict[str, WorkerHeartbeat]:
    return {b.hostname: b for b in WorkerHeartbeat.objects.filter(hostname__in=hostnames)}


def jobs_lost(jobs: Sequence[_Claimed], *, now: datetime, local_hostname: str | None = None,
              stale_seconds: int = LOST_AFTER_SECONDS) -> list[tuple[_Claimed, str]]:
    """(job, why its worker is gone) for each job of ``jobs`` (rows with ``worker_hostname``, ``worker_pid``,
    ``worker_parent_pid`` and ``started``) whose worker is gone (:func:`worker_lost_reason`)."""
    beats = worker_beats({j.worker_hostname for j in jobs})
    lost = []
    for job in jobs:
        reason = worker_lost_reason(
            hostname=job.worker_hostname, pid=job.worker_pid, parent_pid=job.worker_parent_pid, started=job.started,
            beat=beats.get(job.worker_hostname), now=now, local_hostname=local_hostname, stale_seconds=stale_seconds,
        )
        if reason:
            lost.append((job, reason))
    return lost


def iterations_reap_lost(
    *, project: Project | None = None, local_hostname: str | None = None, stale_seconds: int = LOST_AFTER_SECONDS
) -> int:
    """Mark running iterations whose worker is gone (:func:`worker_lost_reason`) as Failed ("worker lost");
    returns how many."""
    now = timezone.now()
    running = Iteration.objects.filter(status=Status.TRAINING, started__isnull=False)
    if project is not None:
        running = running.filter(project=project)
    running_list = list(running.only("id", "started", "worker_hostname", "worker_pid", "worker_parent_pid"))
    if not running_list:
        return 0
    reaped = 0
    for it, reason in jobs_lost(running_list, now=now, local_hostname=local_hostname, stale_seconds=stale_seconds):
        if iteration_finish(
            it.id, Status.FAILED, stage="Failed", error_code="ErrorWorkerLost",
            error=f"Worker lost: {it.worker_hostname or 'the worker'} stopped during training ({reason}). "
            "Train again when a worker is running.",
        ):
            reaped += 1
            logger.warning("iteration %s: worker %s lost (%s)", it.id, it.worker_hostname, reason)
    return reaped
