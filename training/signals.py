"""Celery worker signal handlers (connected in TrainingConfig.ready): heartbeat on start/stop, warm the engine."""

from __future__ import annotations

from typing import Any

_stop: Any = None


def on_worker_ready(sender: Any = None, **kwargs: Any) -> None:
    global _stop
    from training.heartbeat import heartbeat_start

    hostname = getattr(sender, "hostname", "worker")
    queues = ",".join(sorted(q.name for q in sender.app.amqp.queues.consume_from.values())) if sender else ""
    _stop = heartbeat_start(hostname=hostname, queues=queues)


def on_worker_shutdown(sender: Any = None, **kwargs: Any) -> None:
    from training.models import WorkerHeartbeat

    if _stop is not None:
        _stop.set()
    hostname = getattr(sender, "hostname", None)
    if hostname:
        WorkerHeartbeat.objects.filter(hostname=hostname).delete()


def warm_pool_process(**kwargs: Any) -> None:
    """Import the ML engine (torch, onnxruntime: ~4 s) as a pool process starts, not on the first Train click.

    In a thread: Celery waits only worker_proc_alive_timeout (4 s) for a new pool process to report ready.
    A task that starts meanwhile simply waits on the import lock.
    """
    import logging
    import threading

    def warm() -> None:
        try:
            # training.ml itself loads its heavy parts lazily: import the modules a training runs.
            import training.ml.backbones  # noqa: F401
            import training.ml.classification  # noqa: F401
            import training.ml.predict  # noqa: F401
        except ImportError:  # the worker still runs; the training task reports the error on the iteration
            logging.getLogger(__name__).exception("could not import training.ml in the pool process")

    threading.Thread(target=warm, name="tagsight-warm-ml", daemon=True).start()
