"""The whole portal import on a real Celery worker, which is SIGKILLed mid-import: a new worker picks the job up
(training's lost-worker rule, through the heartbeat) and completes it with no image twice."""

from __future__ import annotations

import pytest

from tests.datasets.customvision.checks import assert_imported
from tests.datasets.customvision.conftest import Proxy
from tests.worker import celery_worker, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_killed_worker_mid_import_is_resumed_by_the_next_one(source, owner, owner_client, tmp_path):  # type: ignore[no-untyped-def]
    from datasets.customvision.models import ImportedItem, ImportJob
    from projects.models import Image
    from workspaces.services import personal_workspace_ensure

    total = sum(len(p.images) for p in source.projects)
    # The proxy holds every original after the third, so the worker is killed halfway however busy the machine is.
    with Proxy(source.endpoint, delay_originals=0.2, hold_originals_after=3) as proxy:
        with celery_worker(data_dir=tmp_path, hostname="cv-import") as first:
            response = owner_client.post("/import/customvision/",
                                         {"endpoint": proxy.endpoint, "training_key": source.training_key})
            page = response["Location"]
            owner_client.post(page, {"projects": [p.id for p in source.projects]})
            job = ImportJob.objects.get()

            def started() -> bool:
                job.refresh_from_db()
                return job.images_imported >= 2

            wait_for(started, timeout=90, describe=first.log)
            first.kill()
        job.refresh_from_db()
        assert proxy.originals >= job.images_imported  # the proxy saw the originals go by, so it held the fourth
        assert job.status == "running" and 2 <= job.images_done < total, (job.images_done, total)
        proxy.release()

        with celery_worker(data_dir=tmp_path, hostname="cv-import") as second:
            def completed() -> bool:
                job.refresh_from_db()
                assert job.status != "failed", job.error
                return job.status == "completed"

            wait_for(completed, timeout=120, describe=second.log)

    assert job.resumed == 1
    assert job.images_imported + job.images_present == total and job.images_failed == 0
    workspace = personal_workspace_ensure(user=owner)
    assert Image.objects.filter(project__workspace=workspace).count() == total
    assert ImportedItem.objects.filter(kind="image").count() == total
    for project in source.projects:
        assert_imported(workspace, project)
    report = owner_client.get(page).content.decode()
    assert "resumed 1 time after a worker was lost" in report and "Iterations are not carried" in report
