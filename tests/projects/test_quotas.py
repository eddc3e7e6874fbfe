"""Quotas on images, tags and projects: the services refuse with Azure's codes, the portal says what to delete."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from projects import errors, services
from projects.models import Image, Project, Tag
from projects.services import images as image_services
from tests.factories import make_image_bytes, make_project, make_tag

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


def _png(n: int) -> bytes:
    return make_image_bytes(color=(n * 40 % 256, n * 90 % 256, 33))


def _media_files() -> list[Path]:
    root = Path(django_settings.MEDIA_ROOT)
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def _image_folders() -> set[str]:
    return {p.parent.name for p in _media_files()}


@pytest.fixture
def project(owner):  # type: ignore[no-untyped-def]
    return make_project(owner)


# -------------------------------------------------------------------------------------------- images


def test_an_upload_to_a_full_project_is_error_limit_exceed_and_writes_nothing(settings, project):
    settings.TAGSIGHT_MAX_IMAGES_PER_PROJECT = 2
    first = services.image_upload(project=project, data=_png(1))
    assert [first.status, services.image_upload(project=project, data=_png(2)).status] == ["OK", "OK"]
    files = _media_files()
    refused = services.image_upload(project=project, data=_png(3))
    assert refused.status == "ErrorLimitExceed" and refused.image is None
    assert "limit of 2 images" in refused.message and "Delete images" in refused.message
    assert Image.objects.filter(project=project).count() == 2 and _media_files() == files
    # The same bytes again are still a duplicate (nothing is added), and room made by a delete is usable.
    assert services.image_upload(project=project, data=_png(1)).status == "OKDuplicate"
    services.images_delete(project=project, image_ids=[first.image.id])  # type: ignore[union-attr]
    assert services.image_upload(project=project, data=_png(3)).status == "OK"


def test_the_image_limit_is_per_project_and_zero_turns_it_off(settings, owner, project):
    settings.TAGSIGHT_MAX_IMAGES_PER_PROJECT = 1
    other = make_project(owner, name="Other")
    assert services.image_upload(project=project, data=_png(1)).status == "OK"
    assert services.image_upload(project=other, data=_png(2)).status == "OK"
    settings.TAGSIGHT_MAX_IMAGES_PER_PROJECT = 0
    assert services.image_upload(project=project, data=_png(3)).status == "OK"


def test_an_upload_that_loses_the_race_for_the_last_place_leaves_no_files(settings, monkeypatch, project):
    """Another upload takes the last place between the early check and the insert: the late check, with the
    project row locked, refuses this one and deletes the files it had written."""
    settings.TAGSIGHT_MAX_IMAGES_PER_PROJECT = 1
    real_check = image_services._image_limit_reached

    def check_then_let_another_upload_in(*, project: Project) -> bool:
        # This upload's early check passes; meanwhile a concurrent (real) upload lands. The late check is real.
        monkeypatch.setattr(image_services, "_image_limit_reached", real_check)
        assert services.image_upload(project=project, data=_png(8)).status == "OK"
        return False

    monkeypatch.setattr(image_services, "_image_limit_reached", check_then_let_another_upload_in)
    before = _image_folders()
    result = services.image_upload(project=project, data=_png(9))
    assert result.status == "ErrorLimitExceed"
    [winner] = Image.objects.filter(project=project)
    assert _image_folders() - before == {str(winner.id)}  # only the winner's renditions are on disk


def test_the_upload_page_stores_up_to_the_limit_and_says_what_to_delete(settings, owner_client, project):
    settings.TAGSIGHT_MAX_IMAGES_PER_PROJECT = 2
    services.image_upload(project=project, data=_png(1))
    files = [SimpleUploadedFile(f"{n}.png", _png(n)) for n in (2, 3, 4)]
    response = owner_client.post(reverse("projects:image-upload", args=[project.id]), {"file": files})
    body = response.content.decode()
    assert response.status_code == 200 and body.count("Stored") == 1
    assert body.count("Rejected: This project has reached its limit of 2 images. Delete images") == 2
    assert Image.objects.filter(project=project).count() == 2
    # The uploader script sends one file per request and shows the JSON message.
    one = owner_client.post(reverse("projects:image-upload", args=[project.id]),
                            {"file": SimpleUploadedFile("5.png", _png(5))}, HTTP_ACCEPT="application/json")
    assert one.status_code == 400 and one.json()["status"] == "ErrorLimitExceed"
    assert "limit of 2 images" in one.json()["message"]


# -------------------------------------------------------------------------------------------- tags


def test_a_tag_over_the_limit_is_refused_with_azures_code(settings, project):
    settings.TAGSIGHT_MAX_TAGS_PER_PROJECT = 2
    make_tag(project, "Hemlock")
    make_tag(project, "Cherry")
    with pytest.raises(errors.TagLimitExceeded) as caught:
        services.tag_create(project=project, name="Pine")
    assert caught.value.code == "BadRequestExceedTagPerProjectLimit" and caught.value.status == 400
    assert "limit of 2 tags" in caught.value.message and "Delete a tag" in caught.value.message
    assert list(project.tags.order_by("name").values_list("name", flat=True)) == ["Cherry", "Hemlock"]


def test_the_tag_panel_and_the_upload_picker_show_the_tag_limit(settings, owner_client, project):
    settings.TAGSIGHT_MAX_TAGS_PER_PROJECT = 1
    make_tag(project, "Hemlock")
    url = reverse("projects:tag-create", args=[project.id])
    panel = owner_client.post(url, {"name": "Pine"}, **HX).content.decode()
    assert "This project has reached its limit of 1 tags. Delete a tag you no longer use" in panel
    picker = owner_client.post(url, {"name": "Pine", "picker": "1"}, **HX).content.decode()
    assert "limit of 1 tags" in picker
    assert not Tag.objects.filter(name="Pine").exists()


# -------------------------------------------------------------------------------------------- projects


def test_a_project_over_the_workspace_limit_is_refused(settings, owner):
    settings.TAGSIGHT_MAX_PROJECTS_PER_WORKSPACE = 2
    make_project(owner, name="One")
    make_project(owner, name="Two")
    with pytest.raises(errors.ProjectLimitExceeded) as caught:
        services.project_create(created_by=owner, name="Three")
    assert caught.value.code == "BadRequestExceedProjectLimit"
    assert "limit of 2 projects" in caught.value.message and "Delete a project" in caught.value.message
    assert sorted(Project.objects.values_list("name", flat=True)) == ["One", "Two"]


def test_moving_a_project_into_a_full_workspace_is_refused(settings, owner):
    from workspaces.services import workspace_create

    settings.TAGSIGHT_MAX_PROJECTS_PER_WORKSPACE = 1
    team = workspace_create(name="Team", owner=owner)
    services.project_create(created_by=owner, workspace=team, name="Theirs")
    mine = make_project(owner, name="Mine")
    with pytest.raises(errors.ProjectLimitExceeded):
        services.project_move(project=mine, workspace=team, by=owner)
    mine.refresh_from_db()
    assert mine.workspace_id != team.pk


def test_the_new_project_form_says_the_workspace_is_full(settings, owner_client, owner):
    settings.TAGSIGHT_MAX_PROJECTS_PER_WORKSPACE = 1
    make_project(owner, name="One")
    response = owner_client.post(reverse("projects:project-create"), {"name": "Two", "project_type": "classification"})
    body = response.content.decode()
    assert response.status_code == 200 and "has reached its limit of 1 projects. Delete a project" in body
    assert Project.objects.count() == 1
