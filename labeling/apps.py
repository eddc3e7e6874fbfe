"""Labeling app: bounding-box regions and the tagging screens."""

from __future__ import annotations

from django.apps import AppConfig


class LabelingConfig(AppConfig):
    name = "labeling"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from labeling import services
        from labeling.models import Region
        from projects.regions import RegionHooks, region_hooks_register
        from workspaces.access import resolver_add

        # projects' uploads and untagging reach regions through this, never by importing labeling.
        resolver_add("region_id", Region, "image__project__workspace_id")
        region_hooks_register(
            RegionHooks(
                check=services.upload_regions_check, write=services.upload_regions_write, untag=services.regions_untag
            )
        )
