"""Training app: iterations, performance, prediction, workers."""
from __future__ import annotations

from django.apps import AppConfig


class TrainingConfig(AppConfig):
    name = "training"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from training import signals  # noqa: F401  (connects the Celery worker signals)
