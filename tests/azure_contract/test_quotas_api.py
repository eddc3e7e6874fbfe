"""Quotas through the Training API: Azure's error codes and per-image ErrorLimitExceed, nothing half-written."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from tests.factories import make_image_bytes, make_tag
from tests.training.builders import tagged_project

pytestmark = pytest.mark.django_db


def _b64(n: int) -> str:
    return base64.b64encode(make_image_bytes(color=(n * 40 % 256, n * 90 % 256, 99))).decode()


def _image_folders() -> set[str]:
    root = Path(django_settings.MEDIA_ROOT)
    return {p.parent.name for p in root.rglob("*") if p.is_file()} if root.exists() else set()


def test_a_batch_crossing_the_image_limit_accepts_up_to_it_and_refuses_the_rest(settings, api, project):  # type: ignore[no-untyped-def]
    settings.TAGSIGHT_MAX_IMAGES_PER_PROJECT = 3
    tag = make_tag(project)
    first = api.post(f"/projects/{project.id}/images/files", json_body={"images": [{"name": "0", "contents": _b64(0)}]})
    assert first.status_code == 200
    body = {"images": [{"name": str(n), "contents": _b64(n)} for n in range(1, 5)], "tagIds": [str(tag.id)]}
    response = api.post(f"/projects/{project.id}/images/files", json_body=body)
    assert response.status_code == 207
    result = response.json()
    assert result["isBatchSuccessful"] is False
    assert [i["status"] for i in result["images"]] == ["OK", "OK", "ErrorLimitExceed", "ErrorLimitExceed"]
    assert [i["image"] is None for i in result["images"]] == [False, False, True, True]
    stored = api.get(f"/projects/{project.id}/images?take=256").json()
    assert len(stored) == 3 and api.get(f"/projects/{project.id}/images/count").json() == 3
    assert _image_folders() == {i["id"] for i in stored}  # no renditions of the refused ones


def test_a_tag_over_the_limit_is_bad_request_exceed_tag_per_project_limit(settings, api, project):  # type: ignore[no-untyped-def]
    settings.TAGSIGHT_MAX_TAGS_PER_PROJECT = 1
    assert api.post(f"/projects/{project.id}/tags?name=Hemlock").status_code == 200
    response = api.post(f"/projects/{project.id}/tags?name=Cherry")
    assert response.status_code == 400
    assert response.json()["code"] == "BadRequestExceedTagPerProjectLimit"
    assert "Delete a tag" in response.json()["message"]
    assert [t["name"] for t in api.get(f"/projects/{project.id}/tags").json()] == ["Hemlock"]


def test_a_project_over_the_limit_is_bad_request_exceed_project_limit(settings, api, project):  # type: ignore[no-untyped-def]
    settings.TAGSIGHT_MAX_PROJECTS_PER_WORKSPACE = 1
    response = api.post("/projects?name=Second", data=b"")
    assert response.status_code == 400 and response.json()["code"] == "BadRequestExceedProjectLimit"
    assert [p["name"] for p in api.get("/projects").json()] == ["Trees"]


def test_training_at_the_iteration_limit_is_refused_until_one_is_deleted(settings, api, owner):  # type: ignore[no-untyped-def]
    from training.models import Iteration

    settings.TAGSIGHT_MAX_ITERATIONS_PER_PROJECT = 1
    project = tagged_project(owner)
    first = api.post(f"/projects/{project.id}/train").json()
    Iteration.objects.filter(id=first["id"]).update(status="Failed")  # finished, so only the limit stands in the way
    response = api.post(f"/projects/{project.id}/train?forceTrain=true")
    assert response.status_code == 400
    assert response.json()["code"] == "BadRequestExceedIterationPerProjectLimit"
    assert "Delete an iteration" in response.json()["message"]
    assert Iteration.objects.filter(project=project).count() == 1
    assert api.delete(f"/projects/{project.id}/iterations/{first['id']}").status_code == 204
    assert api.post(f"/projects/{project.id}/train").status_code == 200
