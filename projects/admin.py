"""Django admin for projects, tags and images (read-mostly: uploads go through services.image_upload)."""

from __future__ import annotations

from django.contrib import admin

from projects.models import Image, Project, Tag


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("name", "workspace", "created_by", "project_type", "classification_type", "modified")
    list_filter = ("project_type", "classification_type")
    search_fields = ("name", "workspace__name", "created_by__username")
    raw_id_fields = ("workspace", "created_by")


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("name", "project", "type", "created")
    list_filter = ("type",)
    search_fields = ("name", "project__name")
    raw_id_fields = ("project",)


@admin.register(Image)
class ImageAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("__str__", "project", "width", "height", "content_type", "created")
    search_fields = ("original_name", "sha256", "project__name")
    raw_id_fields = ("project",)
    filter_horizontal = ("tags",)
    readonly_fields = ("file", "thumbnail", "display", "sha256", "width", "height", "content_type")
