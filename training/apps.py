"""Training app: iterations, performance, workers."""

from __future__ import annotations

from typing import Any

from django.apps import AppConfig


def _reap_lost_iterations(*, hostname: str, **kwargs: Any) -> None:
    """Every alive worker also fails iterations whose worker is gone (its own dead pool processes included)."""
    from training.services import iterations_reap_lost

    iterations_reap_lost(local_hostname=hostname)


class TrainingConfig(AppConfig):
    name = "training"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from celery.signals import worker_process_init, worker_ready, worker_shutdown

        from projects.iteration_data import iteration_data_reader_set
        from projects.services import project_delete_check_add
        from training import heartbeat, selectors, signals
        from training.models import Iteration
        from training.services import project_check_unpublished
        from workspaces.access import resolver_add

        worker_ready.connect(signals.on_worker_ready, weak=False, dispatch_uid="tagsight-worker-ready")
        worker_shutdown.connect(signals.on_worker_shutdown, weak=False, dispatch_uid="tagsight-worker-shutdown")
        worker_process_init.connect(signals.warm_pool_process, weak=False, dispatch_uid="tagsight-warm-ml")
        resolver_add("iteration_id", Iteration, "project__workspace_id")
        heartbeat.heartbeat_hook_add(_reap_lost_iterations)
        project_delete_check_add(project_check_unpublished)
        iteration_data_reader_set(selectors.iteration_data)  # projects' API answers iterationId from snapshots
