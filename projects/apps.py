"""Projects app: projects, tags, images, API keys."""
from __future__ import annotations

from django.apps import AppConfig
from django.conf import settings


class ProjectsConfig(AppConfig):
    name = "projects"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from projects.images import allow_sides

        allow_sides(settings.TAGSIGHT_MAX_IMAGE_SIDE)
