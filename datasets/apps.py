"""Datasets app (top of the stack): bringing data in and taking it out, and keeping it safe.

Each capability is its own subpackage: dataset formats (COCO, YOLO, VOC, CSV, folders), the Custom Vision import,
project archives, backup and restore.
"""

from __future__ import annotations

from typing import Any

from django.apps import AppConfig


def _reap_lost_archive_imports(*, hostname: str, **kwargs: Any) -> None:
    """Every alive worker also queues again the archive imports whose worker is gone."""
    from datasets.archives.background import archives_reap_lost

    archives_reap_lost(local_hostname=hostname)


class DatasetsConfig(AppConfig):
    name = "datasets"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from datasets.archives import tasks  # noqa: F401  (registers the archive task with Celery)
        from datasets.archives import views as archive_views
        from datasets.archives.copying import archive_copy
        from datasets.archives.models import ArchiveImport
        from datasets.customvision.apps import ready as customvision_ready
        from datasets.formats import tasks as formats_tasks  # noqa: F401  (registers the background import)
        from datasets.formats import views as formats_views
        from projects.copying import project_copier_set
        from projects.views import images_toolbar_add, project_list_action_add
        from training.heartbeat import heartbeat_hook_add
        from workspaces.access import resolver_add

        customvision_ready()
        heartbeat_hook_add(_reap_lost_archive_imports)
        project_copier_set(archive_copy)  # Azure's import_project copies through the project's archive
        resolver_add("archive_import_id", ArchiveImport, "workspace_id")
        project_list_action_add(archive_views.list_action)
        images_toolbar_add(formats_views.toolbar_link)
