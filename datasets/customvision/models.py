"""An import from a Custom Vision resource, and the map from its ids to ours that makes every rerun import only
what is missing."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class ImportJob(models.Model):
    """One import into a workspace: the projects found at ``endpoint``, those picked, progress, and the report.

    ``training_key`` is kept only while the job may still need it (found, queued, running); it is blanked when the
    job ends, whatever the outcome, and a job found but never started forgets it after KEY_KEPT_FOR_DRAFTS.
    A worker that claims the job writes its hostname and pids, so the lost-worker check (training's, shared)
    can hand a job whose worker died to another worker, which resumes it."""

    class Status(models.TextChoices):
        FOUND = "found", "Pick projects"
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Importing"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.CASCADE, related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    endpoint = models.CharField(max_length=500)
    training_key = models.CharField(max_length=200, blank=True, default="")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.FOUND)
    # [{"id", "name", "type", "classification_type", "domain", "images"}] as found at the endpoint.
    found = models.JSONField(default=list)
    selected = models.JSONField(default=list)  # source project ids to import
    stage = models.CharField(max_length=300, blank=True, default="")
    images_total = models.PositiveIntegerField(default=0)
    images_imported = models.PositiveIntegerField(default=0)
    images_present = models.PositiveIntegerField(default=0)  # imported by an earlier run (or this one, before)
    images_failed = models.PositiveIntegerField(default=0)
    # [{"level": "info" | "warning" | "error", "text": ...}]: what was imported, skipped (and why), not carried.
    report = models.JSONField(default=list)
    error = models.TextField(blank=True, default="")
    task_id = models.CharField(max_length=100, blank=True, default="")
    worker_hostname = models.CharField(max_length=255, blank=True, default="")
    worker_pid = models.PositiveIntegerField(default=0)
    worker_parent_pid = models.PositiveIntegerField(default=0)
    resumed = models.PositiveIntegerField(default=0)  # times a lost worker's job was picked up again
    created = models.DateTimeField(auto_now_add=True)
    modified = models.DateTimeField(auto_now=True)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]
        indexes = [models.Index(fields=["workspace", "-created"]), models.Index(fields=["status"])]

    def __str__(self) -> str:
        return f"Import from {self.endpoint}"

    @property
    def is_active(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)

    @property
    def images_done(self) -> int:
        return self.images_imported + self.images_present + self.images_failed

    @property
    def percent(self) -> int:
        if not self.images_total:
            return 100 if self.status == self.Status.COMPLETED else 0
        return min(100, round(100 * self.images_done / self.images_total))


class ImportedItem(models.Model):
    """A source object (Azure's project, tag or image id) and the one it became in the workspace."""

    class Kind(models.TextChoices):
        PROJECT = "project"
        TAG = "tag"
        IMAGE = "image"

    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    source_id = models.CharField(max_length=64)
    source_project_id = models.CharField(max_length=64)
    target_id = models.UUIDField()
    job = models.ForeignKey(ImportJob, null=True, blank=True, on_delete=models.SET_NULL, related_name="items")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "kind", "source_id"], name="imported_item_once_per_workspace")
        ]
        indexes = [models.Index(fields=["workspace", "kind", "source_project_id"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.source_id} -> {self.target_id}"
