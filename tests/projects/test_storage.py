"""projects.storage: one walker, one deleter and one file response for every app, on disk and on remote storage."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.http import Http404

from projects.storage import storage_delete_tree, storage_is_local, storage_walk, stored_file_response

TREE = {"a.bin": b"a", "sub/b.txt": b"b", "sub/deeper/c.json": b"{}"}
REMOTE = {"default": {"BACKEND": "django.core.files.storage.InMemoryStorage"}}


def _fill(prefix: str) -> None:
    for rel, data in TREE.items():
        default_storage.save(f"{prefix}/{rel}", ContentFile(data))
    default_storage.save("other/keep.txt", ContentFile(b"keep"))


@pytest.fixture(params=["disk", "remote"])
def storage(request, settings):  # type: ignore[no-untyped-def]
    if request.param == "remote":  # InMemoryStorage stands in for S3: not a FileSystemStorage
        settings.STORAGES = {**settings.STORAGES, **REMOTE}
    return request.param


def test_walk_lists_every_file_below_the_prefix_relative_to_it(storage):
    _fill("tree")
    assert storage_is_local() == (storage == "disk")
    assert sorted(storage_walk("tree")) == sorted(TREE)


def test_delete_tree_removes_the_prefix_and_nothing_else(storage):
    _fill("tree")
    storage_delete_tree("tree")
    assert not any(default_storage.exists(f"tree/{rel}") for rel in TREE)
    assert default_storage.exists("other/keep.txt")


def test_file_response_streams_from_disk_with_its_headers(settings):
    name = default_storage.save("files/x.zip", ContentFile(b"zip"))
    response = stored_file_response(name, content_type="application/zip", filename="x.zip", attachment=True)
    assert b"".join(response.streaming_content) == b"zip"
    assert response["Content-Type"] == "application/zip" and "immutable" in response["Cache-Control"]
    assert response["Content-Disposition"] == 'attachment; filename="x.zip"'
    with pytest.raises(Http404):
        stored_file_response("files/missing.jpg", content_type="image/jpeg")
