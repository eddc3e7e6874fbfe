"""Wiring of the Custom Vision import, called from DatasetsConfig.ready."""

from __future__ import annotations

from typing import Any


def _reap_lost_imports(*, hostname: str, **kwargs: Any) -> None:
    """Every alive worker also queues again the imports whose worker is gone (its own dead pool processes too)."""
    from datasets.customvision.services import imports_reap_lost

    imports_reap_lost(local_hostname=hostname)


def ready() -> None:
    from datasets.customvision import (
        tasks,  # noqa: F401 - registers the Celery task with the worker
        views,
    )
    from datasets.customvision.models import ImportJob
    from projects.views import project_list_action_add
    from training.heartbeat import heartbeat_hook_add
    from workspaces.access import resolver_add

    resolver_add("import_id", ImportJob, "workspace_id")
    heartbeat_hook_add(_reap_lost_imports)
    project_list_action_add(views.list_action)
