"""Export and retention cleanup through a REAL Celery worker (embedded filesystem broker, isolated data dir).

Reuses the training tests' isolated installation (``tests.training.test_worker.Env``): a tmp DATA_DIR with its
own SQLite file, broker folders and media; the test drives the services in ``python -c`` subprocesses.
"""

from __future__ import annotations

import time
import uuid
import zipfile

import pytest

from tests.training.test_worker import Env, env  # noqa: F401  (the fixture)

pytestmark = [pytest.mark.worker, pytest.mark.slow]

SETUP = """
from datetime import timedelta
from django.utils import timezone
from tests.predictions.builders import trained_quickstart
from predictions.exports import export_request
from predictions.models import StoredPrediction
from predictions.services import prediction_run
from tests.predictions.builders import TEST_IMAGE
user = get_user_model().objects.create_user(username="owner", password="x")
project, iteration = trained_quickstart(user)
old = prediction_run(project=project, iteration=iteration, data=TEST_IMAGE.read_bytes(), store=True).stored
StoredPrediction.objects.filter(id=old.id).update(created=timezone.now() - timedelta(days=90))
new = prediction_run(project=project, iteration=iteration, data=TEST_IMAGE.read_bytes(), store=True).stored
export = export_request(iteration=iteration)
result = {"export": str(export.id), "old": str(old.id), "new": str(new.id), "old_file": old.file}
"""


def test_export_is_built_by_the_worker_and_old_predictions_are_cleaned(env: Env) -> None:  # noqa: F811
    ids = env.django(SETUP)
    env.start_worker("exporter")
    deadline = time.monotonic() + 120
    row = None
    while time.monotonic() < deadline:
        row = env.query("SELECT status, file, error FROM predictions_export WHERE id = ?", uuid.UUID(ids["export"]).hex)
        if row and row[0] != "Exporting":
            break
        time.sleep(0.3)
    assert row and row[0] == "Done", (row, env.log(env.workers[0][0])[-3000:])
    with zipfile.ZipFile(env.root / "media" / row[1]) as zf:
        assert {"model.onnx", "labels.txt", "metadata.json", "predict.py", "parity.json"} <= set(zf.namelist())
    # The worker's heartbeat ran the retention cleanup (30 days by default): the 90-day-old one is gone.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and env.query(
            "SELECT id FROM predictions_storedprediction WHERE id = ?", uuid.UUID(ids["old"]).hex):
        time.sleep(0.3)
    assert env.query("SELECT id FROM predictions_storedprediction WHERE id = ?", uuid.UUID(ids["old"]).hex) is None
    assert env.query("SELECT id FROM predictions_storedprediction WHERE id = ?", uuid.UUID(ids["new"]).hex)
    assert not (env.root / "media" / ids["old_file"]).exists()
