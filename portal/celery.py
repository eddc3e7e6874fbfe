"""The Celery app: configured from Django settings (CELERY_* names), tasks autodiscovered from apps."""

from __future__ import annotations

import os

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
