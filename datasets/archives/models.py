"""An archive import running in the background (archives with more than TAGSIGHT_ARCHIVE_INLINE_IMAGES images)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class ArchiveImport(models.Model):
    class Status(models.TextChoices):
        QUEUED = "Queued", "Queued"
        RUNNING = "Running", "Importing"
        DONE = "Done", "Done"
        FAILED = "Failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.CASCADE, related_name="archive_imports")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    upload = models.CharField(max_length=300)  # the archive in default_storage, deleted once imported
    filename = models.CharField(max_length=255, blank=True, default="")
    name = models.CharField(max_length=200, blank=True, default="")  # the new project's name ("": the archive's)
    counts = models.JSONField(default=dict)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    project = models.ForeignKey("projects.Project", null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="+")
    error = models.TextField(blank=True, default="")
    created = models.DateTimeField(auto_now_add=True)
    # The worker that claimed it (training's lost-worker rule: a job whose worker is gone is queued again).
    started = models.DateTimeField(null=True, blank=True)
    worker_hostname = models.CharField(max_length=255, blank=True, default="")
    worker_pid = models.PositiveIntegerField(default=0)
    worker_parent_pid = models.PositiveIntegerField(default=0)
    resumed = models.PositiveIntegerField(default=0)  # times a lost worker's import was queued again
    writing = models.UUIDField(null=True, blank=True)  # the id of the project the running import writes
    finished = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return self.filename or str(self.id)

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)
