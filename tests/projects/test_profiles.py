"""Upload, serve and delete images through whatever profile runs: local disk + SQLite (make test), or
S3 + PostgreSQL (.ci/run runs ``-m integration`` again with STORAGE_BACKEND=s3 and DATABASE_URL=postgres)."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.core.files.storage import FileSystemStorage, default_storage
from django.db import connection
from django.urls import reverse
from storages.backends.s3 import S3Storage

from projects import errors, services
from projects.models import Image
from tests.factories import DATASETS, make_image_bytes, make_project, make_tag

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

PHOTO = DATASETS / "azure-quickstart" / "detection" / "fork" / "fork_1.jpg"


def stored(image: Image) -> list[str]:
    return [n for n in {image.file.name, image.display.name, image.thumbnail.name} if default_storage.exists(n)]


def test_upload_stores_every_rendition_in_the_configured_storage(owner):
    project = make_project(owner)
    tag = make_tag(project)
    result = services.image_upload(project=project, data=PHOTO.read_bytes(), filename=PHOTO.name, tags=[tag])
    assert result.status == "OK"
    image = result.image
    assert len(stored(image)) == 2  # original (small enough to be the display rendition too) + thumbnail
    with default_storage.open(image.file.name) as fh:
        assert fh.read() == PHOTO.read_bytes()
    assert services.image_upload(project=project, data=PHOTO.read_bytes()).status == "OKDuplicate"


def test_media_view_streams_from_disk_or_redirects_to_a_signed_url(owner_client, owner):
    image = services.image_upload(project=make_project(owner), data=make_image_bytes()).image
    response = owner_client.get(reverse("projects:image-file", args=[image.id, "thumbnail"]))
    if isinstance(default_storage, FileSystemStorage):
        assert response.status_code == 200 and b"".join(response.streaming_content)[:2] == b"\xff\xd8"
    else:
        assert response.status_code == 302
        assert image.thumbnail.name in response["Location"] and "Signature" in response["Location"]


def test_deleting_images_and_projects_deletes_their_files(owner, django_capture_on_commit_callbacks):
    project = make_project(owner)
    images = [services.image_upload(project=project, data=make_image_bytes(color=(i, 0, 0))).image for i in range(3)]
    with django_capture_on_commit_callbacks(execute=True):
        services.images_delete(project=project, image_ids=[images[0].id])
    assert stored(images[0]) == [] and len(stored(images[1])) == 2
    with django_capture_on_commit_callbacks(execute=True):
        services.project_delete(project=project)
    assert stored(images[1]) == [] and stored(images[2]) == []


class FailingFileSystemStorage(FileSystemStorage):
    def _save(self, name: str, content: Any) -> str:
        if name.endswith("thumbnail.jpg"):
            raise OSError("storage failed mid-upload")
        return super()._save(name, content)


class FailingS3Storage(S3Storage):
    def _save(self, name: str, content: Any) -> str:
        if name.endswith("thumbnail.jpg"):
            raise OSError("storage failed mid-upload")
        return super()._save(name, content)


def test_storage_failing_mid_upload_leaves_nothing(owner, settings):
    failing = FailingFileSystemStorage if isinstance(default_storage, FileSystemStorage) else FailingS3Storage
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {**settings.STORAGES["default"], "BACKEND": f"{__name__}.{failing.__name__}"},
    }
    project = make_project(owner)
    result = services.image_upload(project=project, data=make_image_bytes())
    assert result.status == "ErrorStorage"
    assert not Image.objects.exists() and leftover_files(project) == []


def leftover_files(project: Any) -> list[str]:
    """Every file under the project's images folder (S3 lists nothing for a missing prefix; disk raises)."""
    folder = f"projects/{project.id}/images"
    try:
        dirs, files = default_storage.listdir(folder)
    except FileNotFoundError:
        return []
    return [f for d in dirs for f in default_storage.listdir(f"{folder}/{d}")[1]] + files


# A real database failure, injected with a trigger (no mocks): each vendor's way of refusing an INSERT.
FAIL_INSERT = {
    "sqlite": (
        [
            "CREATE TEMP TRIGGER fail_insert BEFORE INSERT ON {table} "
            "BEGIN SELECT RAISE(ABORT, 'simulated failure'); END"
        ],
        ["DROP TRIGGER fail_insert"],
    ),
    "postgresql": (
        [
            "CREATE FUNCTION tagsight_fail() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'simulated failure'; END $$"
            " LANGUAGE plpgsql",
            "CREATE TRIGGER fail_insert BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION tagsight_fail()",
        ],
        ["DROP TRIGGER fail_insert ON {table}", "DROP FUNCTION tagsight_fail()"],
    ),
}


@pytest.mark.skipif(connection.vendor not in FAIL_INSERT, reason="no failure trigger for this database")
@pytest.mark.parametrize("table", ["projects_image", "projects_image_tags"])
def test_database_failure_mid_upload_leaves_no_files_and_no_row(owner, table):
    project = make_project(owner)
    tag = make_tag(project)
    create, drop = FAIL_INSERT[connection.vendor]
    with connection.cursor() as cursor:
        for sql in create:
            cursor.execute(sql.format(table=table))
    try:
        result = services.image_upload(project=project, data=make_image_bytes(), tags=[tag])
    finally:
        with connection.cursor() as cursor:
            for sql in drop:
                cursor.execute(sql.format(table=table))
    assert result.status == "ErrorUnknown" and result.image is None
    assert not Image.objects.exists() and leftover_files(project) == []
    assert services.image_upload(project=project, data=make_image_bytes(), tags=[tag]).status == "OK"


def test_tag_names_are_unique_ignoring_case_in_the_database(owner):
    project = make_project(owner)
    services.tag_create(project=project, name="Hemlock")
    with pytest.raises(errors.TagNameNotUnique):
        services.tag_create(project=project, name="HEMLOCK")


def test_regions_are_stored_with_the_upload(owner):
    project = services.project_create(created_by=owner, name="Forks", project_type="detection")
    fork = make_tag(project, "fork")
    image = services.image_upload(
        project=project, data=make_image_bytes(),
        regions=[{"tag": fork.id, "left": 0.0, "top": 0.0, "width": 1.0, "height": 1.0}],
    ).image
    assert image.regions.count() == 1 and list(image.tags.all()) == [fork]
    assert settings.TAGSIGHT_MAX_IMAGE_BYTES > 0
