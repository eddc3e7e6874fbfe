"""Celery worker signals: start the heartbeat when a worker is ready, drop it on clean shutdown."""

from __future__ import annotations

from typing import Any

from celery.signals import worker_ready, worker_shutdown

_stop: Any = None


@worker_ready.connect
def _on_worker_ready(sender: Any = None, **kwargs: Any) -> None:
    global _stop
    from training.heartbeat import heartbeat_start

    hostname = getattr(sender, "hostname", "worker")
    queues = ",".join(sorted(q.name for q in sender.app.amqp.queues.consume_from.values())) if sender else ""
    _stop = heartbeat_start(hostname=hostname, queues=queues)


@worker_shutdown.connect
def _on_worker_shutdown(sender: Any = None, **kwargs: Any) -> None:
    from training.models import WorkerHeartbeat

    if _stop is not None:
        _stop.set()
    hostname = getattr(sender, "hostname", None)
    if hostname:
        WorkerHeartbeat.objects.filter(hostname=hostname).delete()
