"""End to end on a REAL Celery worker (tests/worker.py): a large import is confirmed in the portal, written by the
worker all or nothing, and its page polls the state until it says what was imported."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.urls import reverse

from tests.datasets.formats.helpers import png, zip_of
from tests.factories import make_project
from tests.worker import celery_worker, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_a_large_import_runs_on_the_worker(owner: Any, owner_client: Any, tmp_path: Path, settings: Any,
                                           monkeypatch: Any) -> None:
    import io

    from datasets.formats import views
    from projects.models import Image, Project

    monkeypatch.setattr(views, "BACKGROUND_FROM", 3)  # "large" from 3 images, to keep the test small
    project = make_project(owner, name="Many", classification_type=Project.ClassificationType.MULTILABEL)
    upload = io.BytesIO(zip_of({f"tag {n % 2}/img {n}.png": png(n) for n in range(4)}))
    upload.name = "many.zip"
    url = reverse("datasets:formats-import", args=[project.id])
    response = owner_client.post(url, {"format": "folders", "file": upload})
    token = response.content.decode().split('name="token" value="')[1].split('"')[0]
    with celery_worker(data_dir=tmp_path, hostname="imports") as worker:
        response = owner_client.post(reverse("datasets:formats-import-confirm", args=[project.id]),
                                     {"token": token, "confirm": "1"})
        assert response.status_code == 302 and response["Location"].endswith(f"?job={token}")

        def done() -> str:
            page = owner_client.get(response["Location"], HTTP_HX_REQUEST="true").content.decode()
            return page if 'data-state="done"' in page or 'data-state="failed"' in page else ""

        page = wait_for(done, timeout=120, interval=0.5, describe=lambda: worker.log()[-3000:])
    assert "Imported 4 image(s), 0 box(es) and 2 new tag(s) from many.zip." in page, page
    assert Image.objects.filter(project=project).count() == 4
    assert not list((settings.MEDIA_ROOT / "datasets" / "formats" / "pending").iterdir())  # the zip is dropped
