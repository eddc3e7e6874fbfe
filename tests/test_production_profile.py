"""Runs on both profiles: the embedded one (make test) and PostgreSQL + Redis + S3 (.ci/run)."""

from __future__ import annotations

import os

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from tests.worker import celery_worker, wait_for

pytestmark = [pytest.mark.integration]


@pytest.mark.django_db
def test_profile_matches_the_environment(client):
    body = client.get("/healthz").json()
    expected_db = "postgresql" if os.environ.get("DATABASE_URL", "").startswith("postgres") else "sqlite"
    assert body["database"] == {"ok": True, "vendor": expected_db}
    expected_storage = "S3Storage" if os.environ.get("STORAGE_BACKEND") == "s3" else "FileSystemStorage"
    assert body["storage"] == {"ok": True, "backend": expected_storage}
    assert body["broker"]["ok"] is True


@pytest.mark.django_db
def test_media_round_trip_through_the_configured_storage():
    name = default_storage.save("integration/hello.txt", ContentFile(b"hello"))
    try:
        with default_storage.open(name) as fh:
            assert fh.read() == b"hello"
    finally:
        default_storage.delete(name)
    assert not default_storage.exists(name)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_healthz_sees_a_real_worker(client, tmp_path, settings):
    with celery_worker(data_dir=tmp_path, hostname="health"):
        body = wait_for(lambda: (b := client.get("/healthz").json())["worker"]["ok"] and b, timeout=60)
    assert body["status"] == "ok"
    assert any(name.startswith("health@") for name in body["worker"]["workers"])


@pytest.mark.worker
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_train_through_a_real_worker_then_predict(owner, tmp_path):
    """The whole loop on whichever profile is configured: the worker reads images from the storage,
    trains, stores the model in the storage; the web side loads it back and predicts."""
    from predictions.services import prediction_run
    from projects.models import Project
    from tests.factories import DATASETS
    from tests.training.builders import dataset_project
    from training.models import Iteration
    from training.services import iteration_queue

    quickstart = DATASETS / "azure-quickstart" / "classification"
    project = dataset_project(owner, quickstart)
    iteration = iteration_queue(project=project, requested_by=owner)
    with celery_worker(data_dir=tmp_path, hostname="loop"):
        def finished() -> Iteration | None:
            it = Iteration.objects.get(id=iteration.id)
            return it if it.status != "Training" else None

        done = wait_for(finished, timeout=600, interval=0.5)
    assert done.status == "Completed", done.error
    assert {row["tag"] for row in done.metrics["per_tag"]} == {"Hemlock", "Japanese Cherry"}
    hemlock = (quickstart / "Hemlock" / "hemlock_10.jpg").read_bytes()
    result = prediction_run(project=Project.objects.get(id=project.id), iteration=done, data=hemlock,
                            store=True, source="quicktest")
    assert result.predictions[0]["tag"] == "Hemlock"
    assert result.stored is not None
