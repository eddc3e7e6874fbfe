"""The Smart Labeler's stored suggestions: what an iteration's model says about each untagged image.

One ``Suggestion`` per (iteration, image, tag): the model's confidence for that tag (detection: its best box for
the tag, with every box of the tag in ``boxes``). Rows are computed once per (iteration, image file) and reused by
the portal's Suggested tags page and the Azure suggestion endpoints; they go with the iteration, the image or the
tag (cascade), when the image's tags or regions change (a hook in health.suggestions_wiring), and rows whose
``sha256`` no longer matches the image's file are stale and recomputed.
"""

from __future__ import annotations

import uuid

from django.db import models

from projects.models import Image, Tag


class SuggestionRun(models.Model):
    """The background run that fills one iteration's suggestions for every untagged image (one per iteration)."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    iteration = models.OneToOneField("training.Iteration", on_delete=models.CASCADE, related_name="suggestion_run")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    total = models.PositiveIntegerField(default=0)  # untagged images to look at
    done = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True, default="")
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now_add=True)  # set at each step: a run silent too long was lost
    finished = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.status} {self.done}/{self.total}"

    @property
    def active(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)

    @property
    def percent(self) -> int:
        return 100 if not self.total else round(100 * self.done / self.total)


class Suggestion(models.Model):
    id = models.BigAutoField(primary_key=True)
    iteration = models.ForeignKey("training.Iteration", on_delete=models.CASCADE, related_name="suggestions")
    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="suggestions")
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="suggestions")
    confidence = models.FloatField()
    boxes = models.JSONField(default=list, blank=True)  # detection: [{"probability", "box": {left, top, ...}}]
    sha256 = models.CharField(max_length=64)  # the image file the model saw

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["iteration", "image", "tag"], name="suggestion_unique_per_image_tag"),
        ]
        indexes = [models.Index(fields=["iteration", "image"], name="suggestion_iteration_image")]

    def __str__(self) -> str:
        return f"{self.tag_id} {self.confidence:.2f}"
