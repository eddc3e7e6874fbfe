"""Projects, tags and images (Azure ids are UUIDs, so ours are too). A project lives in a workspace."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower

from projects.domains import CLASSIFICATION, DEFAULT_CLASSIFICATION_DOMAIN, DOMAINS_BY_ID, Domain

# Detection results per image: at most ``max_detections`` boxes (a project setting), each with probability >= 1 %
# (training.ml's SCORE_FLOOR). 300 is the engine's own ceiling (training.ml.detection.model.MAX_DETECTIONS); 100
# keeps every object of a busy scene while sparing clients the long tail of 1-2 % boxes.
DEFAULT_MAX_DETECTIONS = 100
MAX_DETECTIONS_LIMIT = 300


class Project(models.Model):
    class ProjectType(models.TextChoices):
        CLASSIFICATION = "classification", "Classification"
        DETECTION = "detection", "Object detection"

    class ClassificationType(models.TextChoices):
        MULTICLASS = "Multiclass", "Multiclass (one tag per image)"
        MULTILABEL = "Multilabel", "Multilabel (several tags per image)"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # PROTECT: a workspace with projects is never deleted by accident (nor its users' personal one).
    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.PROTECT, related_name="projects")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="projects_created"
    )
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    project_type = models.CharField(max_length=20, choices=ProjectType.choices, default=ProjectType.CLASSIFICATION)
    classification_type = models.CharField(
        max_length=20, choices=ClassificationType.choices, default=ClassificationType.MULTICLASS
    )
    domain_id = models.UUIDField(default=DEFAULT_CLASSIFICATION_DOMAIN)
    max_detections = models.PositiveSmallIntegerField(default=DEFAULT_MAX_DETECTIONS)  # detection only
    created = models.DateTimeField(auto_now_add=True)
    modified = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-modified"]
        indexes = [models.Index(fields=["workspace", "-modified"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(max_detections__gte=1, max_detections__lte=MAX_DETECTIONS_LIMIT),
                name="project_max_detections_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def domain(self) -> Domain:
        return DOMAINS_BY_ID[self.domain_id]

    @property
    def is_detection(self) -> bool:
        return self.project_type == self.ProjectType.DETECTION

    @property
    def is_multilabel(self) -> bool:
        return self.classification_type == self.ClassificationType.MULTILABEL

    @property
    def domain_type(self) -> str:
        return CLASSIFICATION if not self.is_detection else "ObjectDetection"


class Tag(models.Model):
    class TagType(models.TextChoices):
        REGULAR = "Regular", "Regular"
        NEGATIVE = "Negative", "Negative"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="tags")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    type = models.CharField(max_length=20, choices=TagType.choices, default=TagType.REGULAR)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(Lower("name"), "project", name="tag_name_unique_per_project_ci"),
        ]

    def __str__(self) -> str:
        return self.name


def _image_path(instance: Image, filename: str) -> str:
    return f"projects/{instance.project_id}/images/{instance.id}/{filename}"


class Image(models.Model):
    """A training image. ``file`` is the original with EXIF orientation applied."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="images")
    file = models.FileField(upload_to=_image_path, max_length=300)
    thumbnail = models.FileField(upload_to=_image_path, max_length=300)
    display = models.FileField(upload_to=_image_path, max_length=300)
    original_name = models.CharField(max_length=255, blank=True, default="")
    content_type = models.CharField(max_length=50, default="image/jpeg")
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    tags = models.ManyToManyField(Tag, related_name="images", blank=True)
    # Azure's image metadata: free string pairs (at most 10 per image, key <= 128, value <= 256 chars).
    metadata = models.JSONField(default=dict, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created", "-id"]
        constraints = [models.UniqueConstraint(fields=["project", "sha256"], name="image_sha256_unique_per_project")]
        indexes = [models.Index(fields=["project", "-created", "-id"])]

    def __str__(self) -> str:
        return self.original_name or str(self.id)
