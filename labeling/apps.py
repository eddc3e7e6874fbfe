"""Labeling app: bounding-box regions and the tagging screens."""

from __future__ import annotations

from django.apps import AppConfig


class LabelingConfig(AppConfig):
    name = "labeling"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from labeling import services
        from projects.regions import RegionHooks, region_hooks_register

        # projects' uploads and untagging reach regions through this, never by importing labeling.
        region_hooks_register(
            RegionHooks(
                check=services.upload_regions_check, write=services.upload_regions_write, untag=services.regions_untag
            )
        )
