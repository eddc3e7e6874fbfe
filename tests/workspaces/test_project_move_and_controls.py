"""Moving a project between two workspaces one owns; pages show only the controls the role allows."""

from __future__ import annotations

import pytest
from django.urls import reverse

from projects.errors import ProjectsError
from projects.services import project_move
from tests.factories import make_project
from workspaces.models import AuditEntry
from workspaces.services import personal_workspace_ensure

pytestmark = pytest.mark.django_db


def test_an_owner_of_both_moves_a_project_after_confirming(owner, owner_client, team) -> None:  # type: ignore[no-untyped-def]
    project = make_project(owner, name="Hemlocks")
    move = reverse("projects:project-move", args=[project.id])
    assert f'href="{move}"' in owner_client.get(reverse("projects:project-edit", args=[project.id])).content.decode()
    page = owner_client.get(move).content.decode()
    assert "Forestry" in page and "keeps its prediction URL" in page and "Prediction key" in page
    response = owner_client.post(move, {"workspace": str(team.id)})
    assert response["Location"] == reverse("projects:project-detail", args=[project.id])
    project.refresh_from_db()
    assert project.workspace_id == team.id
    entries = AuditEntry.objects.filter(action="project.move", project_id=project.id)
    assert {e.workspace_id for e in entries} == {team.id, personal_workspace_ensure(user=owner).id}
    assert all(e.detail == {"from_workspace": "owner", "to_workspace": "Forestry"} for e in entries)


def test_a_project_moves_only_into_a_workspace_one_owns(owner, team, member_client) -> None:  # type: ignore[no-untyped-def]
    trainer, client = member_client("trainer", "tina")
    project = make_project(trainer, name="Tina's")  # in tina's personal workspace, which she owns
    response = client.post(reverse("projects:project-move", args=[project.id]), {"workspace": str(team.id)})
    assert response.status_code == 400 and "Choose one of the workspaces you own" in response.content.decode()
    with pytest.raises(ProjectsError, match="two workspaces you own") as exc:
        project_move(project=project, workspace=team, by=trainer)
    assert exc.value.status == 403
    project.refresh_from_db()
    assert project.workspace.personal_for_id == trainer.pk
    team_project = make_project(owner, name="Team's", workspace=team)
    assert client.get(reverse("projects:project-move", args=[team_project.id])).status_code == 403


def test_moving_needs_a_target_and_says_so_when_none_is_owned(owner, owner_client, stranger_client) -> None:  # type: ignore[no-untyped-def]
    project = make_project(owner, name="Hemlocks")
    page = owner_client.get(reverse("projects:project-move", args=[project.id])).content.decode()
    assert "You own no other workspace" in page
    bad = owner_client.post(reverse("projects:project-move", args=[project.id]), {"workspace": "nope"})
    assert bad.status_code == 400
    assert stranger_client.get(reverse("projects:project-move", args=[project.id])).status_code == 404


CONTROLS = {"data-testid=\"train\"", "data-testid=\"quick-test\"", "Project settings", "data-testid=\"add-images\"",
            "Delete the selected images", "Add a tag", "class=\"thumb-check\""}


@pytest.mark.parametrize(("role", "shown"), [
    ("owner", CONTROLS),
    ("trainer", CONTROLS),
    ("labeler", {"data-testid=\"add-images\"", "Add a tag", "class=\"thumb-check\""}),
    ("viewer", set()),
])
def test_the_project_page_shows_only_what_the_role_allows(owner, team, member_client, role, shown) -> None:  # type: ignore[no-untyped-def]
    from projects.services import image_upload
    from tests.factories import make_image_bytes, make_tag

    project = make_project(owner, name="Hemlocks", workspace=team)
    make_tag(project, "fork")
    image_upload(project=project, data=make_image_bytes())
    if role == "owner":
        from django.test import Client

        client = Client()
        client.force_login(owner)
    else:
        _, client = member_client(role)
    page = client.get(reverse("projects:project-detail", args=[project.id])).content.decode()
    assert {c for c in CONTROLS if c in page} == shown
    client.post(reverse("workspaces:switch", args=[team.id]), {"next": "/"})  # "/" lists the current workspace
    projects = client.get("/").content.decode()
    assert ("+ New project" in projects) == (role in ("owner", "trainer"))


def test_a_viewers_labeler_is_read_only(owner, team, member_client) -> None:  # type: ignore[no-untyped-def]
    from labeling.services import region_create
    from projects.services import image_upload
    from tests.factories import make_image_bytes, make_tag

    project = make_project(owner, name="Boxes", workspace=team, project_type="detection",
                           domain_id="da2e3a8a-40a5-4171-82f4-58522f70fbc1")
    tag = make_tag(project, "fork")
    image = image_upload(project=project, data=make_image_bytes()).image
    region_create(image=image, tag=tag, left=0.1, top=0.1, width=0.5, height=0.5)
    _, viewer = member_client("viewer")
    page = viewer.get(reverse("labeling:labeler", args=[image.id])).content.decode()
    assert 'data-readonly="true"' in page and "Read only" in page and "region-delete" not in page
    _, labeler = member_client("labeler")
    page = labeler.get(reverse("labeling:labeler", args=[image.id])).content.decode()
    assert "data-readonly" not in page and "region-delete" in page


@pytest.mark.parametrize(("role", "can_add", "can_delete"), [
    ("trainer", True, True), ("labeler", True, False), ("viewer", False, False)])
def test_the_predictions_pages_show_only_what_the_role_allows(owner, team, member_client, role, can_add,
                                                              can_delete) -> None:  # type: ignore[no-untyped-def]
    from django.utils import timezone

    from predictions.models import StoredPrediction
    from training.models import Iteration

    project = make_project(owner, name="Hemlocks", workspace=team)
    now = timezone.now()
    iteration = Iteration.objects.create(project=project, number=1, name="Iteration 1", status="Completed",
                                         domain_id=project.domain_id, started=now, finished=now)
    prediction = StoredPrediction.objects.create(project=project, iteration=iteration, file="x.jpg", top_tag="fork",
                                                 top_probability=0.9, predictions=[])
    _, client = member_client(role)
    detail = client.get(reverse("predictions:prediction-detail", args=[prediction.id])).content.decode()
    assert ('id="pd-add"' in detail) == can_add and ("Delete prediction" in detail) == can_delete
    listing = client.get(reverse("predictions:prediction-list", args=[project.id])).content.decode()
    assert ("Delete selected" in listing) == can_delete and ('name="ids"' in listing) == can_delete
