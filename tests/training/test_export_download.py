"""The export download is named after the project and the iteration (a safe slug), not the stored file's name."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse

from tests.training.builders import completed_iteration, tagged_project

pytestmark = pytest.mark.django_db


def _done_export(iteration):  # type: ignore[no-untyped-def]
    from predictions.models import Export  # the predictions app may move it

    empty_zip = ContentFile(b"PK\x05\x06" + bytes(18))
    name = default_storage.save(f"training/exports/{iteration.id}/Iteration-1-onnx.zip", empty_zip)
    return Export.objects.create(iteration=iteration, status=Export.Status.DONE, file=name, size=22)


def test_the_zip_is_named_after_project_and_iteration(owner_client, owner):
    project = tagged_project(owner, per_tag=5, name="Trees / Hemlock vs. Cherry")
    iteration = completed_iteration(project, owner=owner)
    iteration.name = "Iteration 1 (best)"
    iteration.save(update_fields=["name"])
    response = owner_client.get(reverse("predictions:export-download", args=[_done_export(iteration).id]))
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="Trees-Hemlock-vs-Cherry-Iteration-1-best-onnx.zip"'


def test_a_name_with_nothing_safe_in_it_still_gives_a_file_name(owner_client, owner):
    project = tagged_project(owner, per_tag=5, name="日本の木")
    iteration = completed_iteration(project, owner=owner)
    response = owner_client.get(reverse("predictions:export-download", args=[_done_export(iteration).id]))
    assert response["Content-Disposition"] == 'attachment; filename="project-Iteration-1-onnx.zip"'
