"""Models of the prediction side: stored predictions (Quick Test and the prediction endpoint) and ONNX exports."""

from __future__ import annotations

import uuid

from django.db import models

from projects.models import Project


class StoredPrediction(models.Model):
    """One image sent for prediction, kept with what the model said (Azure stores them unless "nostore").

    ``uncertainty`` = 1 - |2p - 1| of the top probability p: 1.0 at p = 0.5 (the model could not decide),
    0.0 at p = 0 or 1; the Predictions tab sorts on it, most uncertain first.
    """

    class Source(models.TextChoices):
        QUICK_TEST = "quicktest", "Quick Test"
        API = "api", "Prediction API"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="stored_predictions")
    iteration = models.ForeignKey(
        "training.Iteration", on_delete=models.SET_NULL, null=True, blank=True, related_name="stored_predictions"
    )
    iteration_name = models.CharField(max_length=200, blank=True, default="")  # kept if the iteration is deleted
    file = models.CharField(max_length=300)  # default_storage names
    thumbnail = models.CharField(max_length=300, blank=True, default="")
    content_type = models.CharField(max_length=50, default="image/jpeg")
    width = models.PositiveIntegerField(default=0)
    height = models.PositiveIntegerField(default=0)
    created = models.DateTimeField(auto_now_add=True)
    source = models.CharField(max_length=20, choices=Source.choices, default=Source.QUICK_TEST)
    application = models.CharField(max_length=200, blank=True, default="")
    predictions = models.JSONField(default=list)  # [{"tag", "probability", "box": {left, top, width, height}|null}]
    top_tag = models.CharField(max_length=200, blank=True, default="")
    top_probability = models.FloatField(default=0.0)
    uncertainty = models.FloatField(default=0.0)
    model_ms = models.FloatField(default=0.0)

    class Meta:
        ordering = ["-uncertainty", "-created"]
        indexes = [
            models.Index(fields=["project", "-uncertainty"], name="storedpred_project_uncertain"),
            models.Index(fields=["project", "-created"], name="storedpred_project_created"),
            models.Index(fields=["created"], name="storedpred_created"),
        ]

    def __str__(self) -> str:
        return f"{self.top_tag} {self.top_probability:.2f}"


class Export(models.Model):
    """An iteration exported for offline use; one per (iteration, platform, flavor), never rebuilt when Done."""

    class Status(models.TextChoices):
        EXPORTING = "Exporting", "Exporting"
        DONE = "Done", "Done"
        FAILED = "Failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    iteration = models.ForeignKey("training.Iteration", on_delete=models.CASCADE, related_name="exports")
    platform = models.CharField(max_length=20, default="ONNX")
    flavor = models.CharField(max_length=40, blank=True, default="")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.EXPORTING)
    file = models.CharField(max_length=300, blank=True, default="")  # default_storage name of the zip
    size = models.PositiveBigIntegerField(default=0)
    parity = models.JSONField(null=True, blank=True)  # the engine's parity report (summary)
    error = models.TextField(blank=True, default="")
    created = models.DateTimeField(auto_now_add=True)
    finished = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]
        constraints = [
            models.UniqueConstraint(fields=["iteration", "platform", "flavor"], name="export_unique_per_iteration"),
        ]

    def __str__(self) -> str:
        return f"{self.platform} {self.flavor} ({self.status})".strip()
