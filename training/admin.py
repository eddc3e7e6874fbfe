"""Admin for training: iterations (read-mostly: status, errors, worker) and worker heartbeats."""

from __future__ import annotations

from django.contrib import admin

from training.models import Iteration, WorkerHeartbeat


@admin.register(Iteration)
class IterationAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("name", "project", "status", "training_type", "image_count", "publish_name", "created", "finished",
                    "worker_hostname")
    list_filter = ("status", "training_type", "project_type")
    search_fields = ("name", "project__name", "publish_name", "worker_hostname", "task_id")
    readonly_fields = ("id", "project", "number", "fingerprint", "artifact_path", "artifact_kind", "task_id",
                       "worker_hostname", "worker_pid", "worker_parent_pid", "created", "started", "finished",
                       "code_version", "requested_by")
    exclude = ("snapshot", "metrics")  # large JSON; the Performance page shows them
    date_hierarchy = "created"


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("hostname", "pid", "queues", "started", "last_seen")
    readonly_fields = ("hostname", "pid", "queues", "started", "last_seen")
