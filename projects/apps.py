"""Projects app: projects, tags, images."""
from __future__ import annotations

from django.apps import AppConfig
from django.conf import settings


class ProjectsConfig(AppConfig):
    name = "projects"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from projects.images import allow_sides
        from projects.models import Image, Project
        from workspaces.access import resolver_add

        allow_sides(settings.TAGSIGHT_MAX_IMAGE_SIDE)
        # The workspace a URL is about, for workspaces.access (404 / 403 decided there).
        resolver_add("project_id", Project, "workspace_id")
        resolver_add("image_id", Image, "project__workspace_id")
