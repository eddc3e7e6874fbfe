"""Data Health's stored results: one run per check of a project (status, progress, summary) and its findings."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from projects.models import Project
from training.models import Iteration


class DataHealthRun(models.Model):
    """One check of a project's data: queued after each completed training or by "Re-check", run by a worker."""

    class Status(models.TextChoices):
        QUEUED = "Queued", "Queued"
        RUNNING = "Running", "Running"
        COMPLETED = "Completed", "Completed"
        FAILED = "Failed", "Failed"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="health_runs")
    iteration = models.ForeignKey(Iteration, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    progress = models.FloatField(default=0.0)
    stage = models.CharField(max_length=200, blank=True, default="Queued")
    error = models.TextField(blank=True, default="")
    created = models.DateTimeField(auto_now_add=True)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)
    # Counts per finding kind, the balance table, leakage count, what was checked and how long it took.
    summary = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [models.Index(fields=["project", "-created"])]

    def __str__(self) -> str:
        return f"{self.project_id} {self.status} {self.created:%Y-%m-%d %H:%M}"

    @property
    def is_active(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)


class DataHealthFinding(models.Model):
    """One problem found by a run. ``image_ids`` are the images it is about; ``data`` holds the kind's details."""

    class Kind(models.TextChoices):
        DUPLICATE = "duplicate", "Near-duplicates"
        LEAKAGE = "leakage", "Leakage"
        MISLABEL = "mislabel", "Likely mislabel"
        BOX_TAG = "box_tag", "Box tag disagrees"
        BOX_MISSING = "box_missing", "Box nobody drew"
        BOX_WHOLE = "box_whole_image", "Box covers the whole image"
        BOX_DOUBLE = "box_double", "Box drawn twice"
        BOX_TINY = "box_tiny", "Tiny box"

    run = models.ForeignKey(DataHealthRun, on_delete=models.CASCADE, related_name="findings")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    score = models.FloatField(default=0.0)  # higher = shown first within its kind
    image_ids = models.JSONField(default=list)  # [str(UUID)], the images concerned (a cluster: all of them)
    data = models.JSONField(default=dict, blank=True)
    resolved = models.BooleanField(default=False)  # fixed from the page (kept one, retagged): hidden

    class Meta:
        ordering = ["kind", "-score", "id"]
        indexes = [models.Index(fields=["run", "kind", "-score"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.image_ids}"
