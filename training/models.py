"""Training models: iterations and their performance, and worker heartbeats."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from projects.models import Project


class WorkerHeartbeat(models.Model):
    """Each Celery worker writes its heartbeat here; /healthz and the lost-worker reaper read it."""

    hostname = models.CharField(max_length=255, unique=True)
    pid = models.PositiveIntegerField(default=0)
    queues = models.CharField(max_length=255, default="")
    started = models.DateTimeField(auto_now_add=True)
    last_seen = models.DateTimeField()

    def __str__(self) -> str:
        return self.hostname


class Iteration(models.Model):
    """One training run of a project, frozen on the data it was trained on.

    ``status`` uses Azure's words. While ``Training``, ``started`` tells the sub-state apart:
    None = queued (waiting for a worker), set = running on ``worker_hostname``.
    """

    class Status(models.TextChoices):
        TRAINING = "Training", "Training"
        COMPLETED = "Completed", "Completed"
        FAILED = "Failed", "Failed"
        CANCELLED = "Cancelled", "Cancelled"

    class TrainingType(models.TextChoices):
        REGULAR = "Regular", "Quick"
        ADVANCED = "Advanced", "Advanced"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="iterations")
    number = models.PositiveIntegerField()
    name = models.CharField(max_length=200)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.TRAINING)
    training_type = models.CharField(max_length=20, choices=TrainingType.choices, default=TrainingType.REGULAR)
    budget_minutes = models.PositiveIntegerField(default=0)  # Advanced only; 0 = no budget (Quick)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    notification_email = models.EmailField(blank=True, default="")  # Azure's notificationEmailAddress
    created = models.DateTimeField(auto_now_add=True)
    modified = models.DateTimeField(auto_now=True)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)

    # Live progress, written (throttled) by the worker.
    progress = models.FloatField(default=0.0)
    stage = models.CharField(max_length=200, blank=True, default="Queued")
    error = models.TextField(blank=True, default="")
    error_code = models.CharField(max_length=100, blank=True, default="")
    task_id = models.CharField(max_length=100, blank=True, default="")
    worker_hostname = models.CharField(max_length=255, blank=True, default="")
    worker_pid = models.PositiveIntegerField(default=0)  # the process running the task
    worker_parent_pid = models.PositiveIntegerField(default=0)  # its pool parent (the heartbeat's pid)

    # What it was trained with, frozen at queue time.
    domain_id = models.UUIDField()
    backbone = models.CharField(max_length=50, blank=True, default="")
    project_type = models.CharField(max_length=20, default="classification")
    classification_type = models.CharField(max_length=20, blank=True, default="")
    snapshot = models.JSONField(default=dict)  # {"tags": [...], "images": [...]} — see services._snapshot
    fingerprint = models.CharField(max_length=64, blank=True, default="")  # sha256 of the snapshot
    image_count = models.PositiveIntegerField(default=0)
    code_version = models.CharField(max_length=100, blank=True, default="")

    # What came out.
    metrics = models.JSONField(null=True, blank=True)  # training.ml's metrics dict, as returned
    artifact_path = models.CharField(max_length=500, blank=True, default="")  # default_storage name/prefix
    artifact_kind = models.CharField(max_length=10, blank=True, default="")  # "file" | "dir"

    # NULL (not "") when unpublished, so the per-project unique constraint ignores unpublished iterations.
    publish_name = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["project", "number"], name="iteration_number_unique_per_project"),
            models.UniqueConstraint(
                fields=["project", "publish_name"],
                condition=Q(publish_name__isnull=False),
                name="iteration_publish_name_unique_per_project",
            ),
        ]
        indexes = [models.Index(fields=["project", "-created"]), models.Index(fields=["status"])]

    def __str__(self) -> str:
        return self.name

    @property
    def is_training(self) -> bool:
        return self.status == self.Status.TRAINING

    @property
    def is_queued(self) -> bool:
        return self.is_training and self.started is None

    @property
    def is_running(self) -> bool:
        return self.is_training and self.started is not None

    @property
    def is_done(self) -> bool:
        return not self.is_training

    @property
    def is_published(self) -> bool:
        return self.publish_name is not None

    @property
    def is_detection(self) -> bool:
        return self.project_type == "detection"

