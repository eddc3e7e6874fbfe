"""Regions: a tagged box on an image, normalised to [0, 1] like Azure's (left/top = top-left corner)."""

from __future__ import annotations

import uuid

from django.db import models

from projects.models import Image, Tag


class Region(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="regions")
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="regions")
    left = models.FloatField()
    top = models.FloatField()
    width = models.FloatField()
    height = models.FloatField()
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(left__gte=0, top__gte=0, width__gt=0, height__gt=0),
                name="region_positive",
            ),
            models.CheckConstraint(
                condition=models.Q(left__lte=1, top__lte=1, width__lte=1, height__lte=1),
                name="region_within_unit",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.tag_id} at ({self.left:.3f}, {self.top:.3f}, {self.width:.3f}, {self.height:.3f})"
