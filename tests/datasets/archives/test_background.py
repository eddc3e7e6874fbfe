"""Big archives are imported by a worker: the portal queues them and shows their progress, then the project."""

from __future__ import annotations

import re

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse

from tests.datasets.archives.helpers import archive_bytes, rewrite
from tests.training.builders import tagged_project


def _queue(client, data: bytes) -> str:  # type: ignore[no-untyped-def]
    """Upload, preview and confirm an archive; returns the status page's URL."""
    url = reverse("datasets:archive-import")
    page = client.post(url, {"archive": ContentFile(data, name="trees.zip")}).content.decode()
    token = re.search(r'name="token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    response = client.post(url, {"token": token, "name": "Imported"})
    assert response.status_code == 302 and "/projects/import/" in response["Location"]
    return str(response["Location"])


@pytest.mark.django_db
def test_a_big_archive_is_queued_and_its_page_follows_it(owner, owner_client, settings):  # type: ignore[no-untyped-def]
    from datasets.archives.background import archive_import_run
    from datasets.archives.models import ArchiveImport

    settings.TAGSIGHT_ARCHIVE_INLINE_IMAGES = 3
    source = tagged_project(owner, per_tag=2)
    status_url = _queue(owner_client, archive_bytes(source))
    job = ArchiveImport.objects.get()
    page = owner_client.get(status_url).content.decode()
    assert 'data-status="Queued"' in page and "hx-trigger" in page

    archive_import_run(archive_import_id=job.id)  # what the worker runs

    job.refresh_from_db()
    assert job.status == "Done" and job.project.name == "Imported" and job.project.images.count() == 4
    assert not default_storage.exists(job.upload)
    done = owner_client.get(status_url, HTTP_HX_REQUEST="true")
    assert done.status_code == 286  # stop polling
    assert reverse("projects:project-detail", args=[job.project.id]) in done.content.decode()


@pytest.mark.django_db
def test_a_failed_background_import_says_why_and_keeps_nothing(owner, owner_client, settings):  # type: ignore[no-untyped-def]
    from datasets.archives.background import archive_import_run
    from datasets.archives.models import ArchiveImport
    from projects.models import Project

    settings.TAGSIGHT_ARCHIVE_INLINE_IMAGES = 0
    data = archive_bytes(tagged_project(owner, per_tag=1))

    def break_one_image(files: dict[str, bytes]) -> None:
        files[next(n for n in files if n.startswith("images/"))] = b"GIF89a not an image"

    status_url = _queue(owner_client, rewrite(data, break_one_image))
    before = Project.objects.count()
    archive_import_run(archive_import_id=ArchiveImport.objects.get().id)
    page = owner_client.get(status_url).content.decode()
    assert 'data-status="Failed"' in page and "was refused" in page and "Nothing was kept" in page
    assert Project.objects.count() == before and not default_storage.exists(ArchiveImport.objects.get().upload)


@pytest.mark.slow
@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_imports_a_queued_archive(owner, owner_client, settings, tmp_path):  # type: ignore[no-untyped-def]
    from datasets.archives.models import ArchiveImport
    from tests.worker import celery_worker, wait_for

    settings.TAGSIGHT_ARCHIVE_INLINE_IMAGES = 0
    status_url = _queue(owner_client, archive_bytes(tagged_project(owner, per_tag=2)))
    with celery_worker(data_dir=tmp_path, hostname="archives") as worker:
        job = wait_for(lambda: ArchiveImport.objects.filter(status__in=["Done", "Failed"]).first(), timeout=180,
                       describe=worker.log)
    assert job.status == "Done", job.error
    assert job.project.images.count() == 4 and job.project.workspace_id == job.workspace_id
    assert 'data-status="Done"' in owner_client.get(status_url).content.decode()


def _claimed_by_a_dead_worker(job, *, writing=None):  # type: ignore[no-untyped-def]
    """The row as a worker that claimed it and was then SIGKILLed leaves it: Running, its heartbeat a minute old."""
    from datetime import timedelta

    from django.utils import timezone

    from datasets.archives.models import ArchiveImport
    from training.models import WorkerHeartbeat

    long_ago = timezone.now() - timedelta(seconds=60)
    WorkerHeartbeat.objects.update_or_create(hostname="w1@gone", defaults={"pid": 4241, "last_seen": long_ago})
    ArchiveImport.objects.filter(pk=job.pk).update(status="Running", started=long_ago, worker_hostname="w1@gone",
                                                    worker_pid=4242, worker_parent_pid=4241, writing=writing)


@pytest.mark.django_db
def test_an_import_whose_worker_died_is_queued_again_without_its_files_and_then_imports(  # type: ignore[no-untyped-def]
        owner, owner_client, settings, django_capture_on_commit_callbacks):
    import uuid

    from datasets.archives.background import archive_import_run
    from datasets.archives.models import ArchiveImport
    from projects.models import Project

    settings.TAGSIGHT_ARCHIVE_INLINE_IMAGES = 0
    status_url = _queue(owner_client, archive_bytes(tagged_project(owner, per_tag=2)))
    job = ArchiveImport.objects.get()
    writing = uuid.uuid4()  # the lost run had stored an image of the project it was writing; no row points at it
    orphan = default_storage.save(f"projects/{writing}/images/x/original.jpg", ContentFile(b"half an import"))
    _claimed_by_a_dead_worker(job, writing=writing)
    projects = Project.objects.count()

    with django_capture_on_commit_callbacks() as scheduled:
        page = owner_client.get(status_url).content.decode()  # the page that polls notices the lost worker
    job.refresh_from_db()
    assert job.status == "Queued" and job.resumed == 1 and job.worker_hostname == "" and job.writing is None
    assert len(scheduled) == 1  # handed to a worker again once committed
    assert 'data-status="Queued"' in page and "The worker importing it stopped" in page
    assert not default_storage.exists(orphan) and default_storage.exists(job.upload)  # the archive is kept
    assert Project.objects.count() == projects

    archive_import_run(archive_import_id=job.id, worker_hostname="w2@alive")  # the next worker imports it
    job.refresh_from_db()
    assert job.status == "Done" and job.project.images.count() == 4 and job.project_id == job.writing
    assert not default_storage.exists(job.upload)


@pytest.mark.django_db
def test_a_worker_that_died_after_writing_the_project_leaves_it_done(owner, owner_client, settings):  # type: ignore[no-untyped-def]
    from datasets.archives.background import archives_reap_lost
    from datasets.archives.models import ArchiveImport

    settings.TAGSIGHT_ARCHIVE_INLINE_IMAGES = 0
    _queue(owner_client, archive_bytes(tagged_project(owner, per_tag=1)))
    job = ArchiveImport.objects.get()
    written = tagged_project(owner, per_tag=1)  # the project its rows committed before the worker died
    _claimed_by_a_dead_worker(job, writing=written.id)
    assert archives_reap_lost() == 1
    job.refresh_from_db()
    assert job.status == "Done" and job.project == written and not default_storage.exists(job.upload)
    assert written.images.count() == 2  # untouched


@pytest.mark.django_db
def test_an_archive_that_loses_its_worker_again_and_again_fails_with_the_reason(owner, owner_client, settings):  # type: ignore[no-untyped-def]
    from datasets.archives.background import MAX_RESUMES, archives_reap_lost
    from datasets.archives.models import ArchiveImport

    settings.TAGSIGHT_ARCHIVE_INLINE_IMAGES = 0
    status_url = _queue(owner_client, archive_bytes(tagged_project(owner, per_tag=1)))
    job = ArchiveImport.objects.get()
    for _ in range(MAX_RESUMES - 1):
        _claimed_by_a_dead_worker(job)
        assert archives_reap_lost() == 1
    assert ArchiveImport.objects.get().status == "Queued"
    _claimed_by_a_dead_worker(job)
    assert archives_reap_lost() == 1
    job.refresh_from_db()
    assert job.status == "Failed" and f"stopped {MAX_RESUMES} times" in job.error
    assert not default_storage.exists(job.upload)
    page = owner_client.get(status_url).content.decode()
    assert 'data-status="Failed"' in page and "last heartbeat" in page
    # A worker alive and beating is left alone.
    assert archives_reap_lost() == 0
