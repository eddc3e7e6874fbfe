"""Predictions app: Quick Test, stored predictions, the prediction API, exports and the predictor cache."""

from __future__ import annotations

from typing import Any

from django.apps import AppConfig


def _exports_delete_with_iteration(sender: Any, instance: Any, **kwargs: Any) -> None:
    """An iteration being deleted takes its export zips with it (once the deletion commits)."""
    from predictions.exports import export_delete_files

    export_delete_files(iteration=instance)


def _create_cache_tables(using: str = "default", **kwargs: Any) -> None:
    """`manage.py migrate` also makes the database cache's table (the prediction rate limit counts there)."""
    from django.core.management import call_command

    call_command("createcachetable", database=using, verbosity=0)


class PredictionsConfig(AppConfig):
    name = "predictions"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate, pre_delete

        from predictions.cleanup import cleanup_after_beat
        from predictions.models import Export, StoredPrediction
        from training import heartbeat
        from training.models import Iteration
        from workspaces.access import resolver_add

        resolver_add("prediction_id", StoredPrediction, "project__workspace_id")
        resolver_add("export_id", Export, "iteration__project__workspace_id")
        heartbeat.heartbeat_hook_add(cleanup_after_beat)
        post_migrate.connect(_create_cache_tables, sender=self, dispatch_uid="tagsight-cache-tables")
        pre_delete.connect(_exports_delete_with_iteration, sender=Iteration, dispatch_uid="tagsight-export-files")
