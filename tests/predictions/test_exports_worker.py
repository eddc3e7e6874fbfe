"""Export and retention cleanup through a REAL Celery worker (tests/worker.py: shared test database and media)."""

from __future__ import annotations

import zipfile
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone

from tests.worker import celery_worker, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_export_is_built_by_the_worker_and_old_predictions_are_cleaned(owner, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from predictions.exports import export_request
    from predictions.models import Export, StoredPrediction
    from predictions.services import prediction_run
    from tests.predictions.builders import TEST_IMAGE, trained_quickstart

    project, iteration = trained_quickstart(owner)
    old = prediction_run(project=project, iteration=iteration, data=TEST_IMAGE.read_bytes(), store=True).stored
    StoredPrediction.objects.filter(id=old.id).update(created=timezone.now() - timedelta(days=90))
    new = prediction_run(project=project, iteration=iteration, data=TEST_IMAGE.read_bytes(), store=True).stored
    export = export_request(iteration=iteration)  # no worker yet: the message waits in the broker folder
    with celery_worker(data_dir=tmp_path, hostname="exporter") as worker:
        export = wait_for(lambda: (e := Export.objects.get(id=export.id)).status != "Exporting" and e,
                          timeout=120, interval=0.3, describe=lambda: worker.log()[-3000:])
        assert export.status == "Done", (export.error, worker.log()[-3000:])
        with default_storage.open(export.file) as fh, zipfile.ZipFile(fh) as zf:
            assert {"model.onnx", "labels.txt", "metadata.json", "predict.py", "parity.json"} <= set(zf.namelist())
        # The worker's heartbeat runs the retention cleanup (30 days by default): the 90-day-old one goes.
        wait_for(lambda: not StoredPrediction.objects.filter(id=old.id).exists(), timeout=30, interval=0.3,
                 describe=lambda: worker.log()[-3000:])
    assert StoredPrediction.objects.filter(id=new.id).exists()
    assert not default_storage.exists(old.file)
