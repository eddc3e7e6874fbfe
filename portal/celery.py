"""The Celery app: configured from Django settings (CELERY_* names), tasks autodiscovered from apps."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery, signals
from kombu.transport import TRANSPORT_ALIASES

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
# The embedded broker writes each message atomically (portal/broker.py): a polling worker never reads half of one.
TRANSPORT_ALIASES["filesystem"] = "portal.broker:Transport"

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def _ensure_broker_folders(**_: object) -> None:
    """kombu's filesystem transport (embedded profile) needs its folders; create them on first use."""
    options = app.conf.broker_transport_options or {}
    for key in ("data_folder_in", "data_folder_out", "control_folder"):
        if options.get(key):
            os.makedirs(options[key], exist_ok=True)


signals.after_setup_logger.connect(_ensure_broker_folders, weak=False)
signals.before_task_publish.connect(_ensure_broker_folders, weak=False)


def _worker_metrics_folder(**_: object) -> None:
    """celeryd_init (first thing a worker does, long before the pool forks): the worker's processes write their
    metrics under TAGSIGHT_METRICS_DIR/worker, emptied at start (prometheus-client's rule for a new set of
    processes). prometheus_client picks its multi-process mode when imported, and metric values are made with
    ``values.ValueClass``: should something have imported it already, that choice is made again here."""
    import sys
    from pathlib import Path

    from django.conf import settings

    default = Path(settings.TAGSIGHT_METRICS_DIR) / "worker"
    path = Path(os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(default)))
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink(missing_ok=True)
    if "prometheus_client.values" in sys.modules:
        values: Any = sys.modules["prometheus_client.values"]
        values.ValueClass = values.get_value_class()


def _task_finished(**kwargs: object) -> None:
    from portal.logs import task_postrun_clear_request_id
    from portal.metrics import task_observe

    task_observe(**kwargs)
    task_postrun_clear_request_id(**kwargs)  # type: ignore[arg-type]


def _pool_process_gone(**kwargs: object) -> None:
    from portal.metrics import worker_process_gone

    worker_process_gone(**kwargs)


def _task_started(**kwargs: object) -> None:
    from portal.logs import task_prerun_set_request_id

    task_prerun_set_request_id(**kwargs)  # type: ignore[arg-type]


def _task_published(**kwargs: object) -> None:
    from portal.logs import task_publish_add_request_id

    task_publish_add_request_id(**kwargs)  # type: ignore[arg-type]


def _worker_logging(**kwargs: object) -> None:
    from portal.logs import worker_logging_setup

    worker_logging_setup(**kwargs)  # type: ignore[arg-type]


# Request ids travel from the web request into its tasks (portal.logs); metrics of the worker (portal.metrics).
signals.before_task_publish.connect(_task_published, weak=False)
signals.task_prerun.connect(_task_started, weak=False)
signals.task_postrun.connect(_task_finished, weak=False)
signals.after_setup_logger.connect(_worker_logging, weak=False)
signals.after_setup_task_logger.connect(_worker_logging, weak=False)
signals.celeryd_init.connect(_worker_metrics_folder, weak=False)
signals.worker_process_shutdown.connect(_pool_process_gone, weak=False)
