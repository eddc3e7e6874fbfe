"""Health app: the Smart Labeler's screens and the Data Health page (duplicates, leakage, likely mislabels,
balance), computed in the background from what training and predictions already have."""

from __future__ import annotations

from django.apps import AppConfig


class HealthConfig(AppConfig):
    name = "health"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from health.suggestions_wiring import connect as smart_labeler_connect

        smart_labeler_connect()
