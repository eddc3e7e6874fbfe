"""Health app: the Smart Labeler's screens and the Data Health page (duplicates, leakage, likely mislabels,
balance), computed in the background from what training and predictions already have."""

from __future__ import annotations

from django.apps import AppConfig


class HealthConfig(AppConfig):
    name = "health"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from health import datahealth, datahealth_tasks, datahealth_views
        from health.suggestions_wiring import connect as smart_labeler_connect
        from training.events import listener_add
        from training.views import iteration_panel_add

        smart_labeler_connect()
        del datahealth_tasks  # imported so the worker registers the task
        listener_add(datahealth.on_training_event)  # check the data again after every completed training
        iteration_panel_add(datahealth_views.iteration_panel)  # leakage warning on the iteration page
