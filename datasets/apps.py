"""Datasets app (top of the stack): bringing data in and taking it out, and keeping it safe.

Each capability is its own subpackage: dataset formats (COCO, YOLO, VOC, CSV, folders), the Custom Vision import,
project archives, backup and restore.
"""

from __future__ import annotations

from django.apps import AppConfig


class DatasetsConfig(AppConfig):
    name = "datasets"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from datasets.formats import tasks  # noqa: F401  # registers the background import with Celery
