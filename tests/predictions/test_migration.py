"""A database migrated at the layout before the predictions app keeps its stored predictions and exports."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("training", "0003_predictions_exports"), ("projects", "0001_initial"), ("predictions", None)]


@pytest.mark.django_db(transaction=True)
def test_rows_survive_the_move_to_the_predictions_app() -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE[:2]).apps
    user = old.get_model("auth", "User").objects.create(username="before")
    project = old.get_model("projects", "Project").objects.create(
        name="Old", owner_id=user.id, domain_id=uuid.UUID("ee85a74c-405e-4adc-bb47-ffa8ca0c9f31"))
    iteration = old.get_model("training", "Iteration").objects.create(
        project_id=project.id, number=1, name="Iteration 1", status="Completed", domain_id=project.domain_id)
    pred = old.get_model("training", "StoredPrediction").objects.create(
        project_id=project.id, iteration_id=iteration.id, file="p/1.jpg", top_tag="cat", top_probability=0.9,
        predictions=[{"tag": "cat", "probability": 0.9, "box": None}])
    export = old.get_model("training", "Export").objects.create(
        iteration_id=iteration.id, platform="ONNX", status="Done", file="e/1.zip", size=123)

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    from predictions.models import Export, StoredPrediction

    moved = StoredPrediction.objects.get(id=pred.id)
    assert (moved.top_tag, moved.file, moved.iteration_id, moved.predictions[0]["tag"]) == (
        "cat", "p/1.jpg", iteration.id, "cat")
    assert Export.objects.get(id=export.id).size == 123
    assert StoredPrediction._meta.db_table == "predictions_storedprediction"
    tables = connection.introspection.table_names()
    assert "training_storedprediction" not in tables and "training_export" not in tables
    from django.contrib.contenttypes.models import ContentType

    assert ContentType.objects.get_for_model(Export).app_label == "predictions"
    assert not ContentType.objects.filter(app_label="training", model__in=["export", "storedprediction"]).exists()
