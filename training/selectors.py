"""Read-side queries for training: workers, iterations, performance."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from training.models import WorkerHeartbeat

WORKER_ALIVE_SECONDS = 30


def worker_list_alive(*, within_seconds: int = WORKER_ALIVE_SECONDS) -> list[str]:
    """Hostnames of workers whose heartbeat is recent."""
    since = timezone.now() - timedelta(seconds=within_seconds)
    return list(WorkerHeartbeat.objects.filter(last_seen__gte=since).values_list("hostname", flat=True))
