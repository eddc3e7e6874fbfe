"""The audit log: what the portal and the API write (who, from where, counts), in the change's transaction, and
the Owners' page that reads it."""

from __future__ import annotations

import base64
import re
from datetime import timedelta
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import DatabaseError, connection
from django.test import Client
from django.urls import reverse

from projects.models import Image, Project, Tag
from tests.azure_contract.conftest import Api
from tests.factories import make_image_bytes, make_tag
from workspaces.models import AuditEntry

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}
HOME = "203.0.113.7"  # documentation addresses (RFC 5737)
OFFICE = "198.51.100.20"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):  # type: ignore[no-untyped-def]
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def team(owner):  # type: ignore[no-untyped-def]
    from workspaces.services import workspace_create

    return workspace_create(name="Vision team", owner=owner)


@pytest.fixture
def project(owner, team):  # type: ignore[no-untyped-def]
    from projects.services import project_create

    return project_create(created_by=owner, workspace=team, name="Forks", project_type="detection")


def signed_in(user: Any, ip: str = HOME) -> Client:
    """A client signed in through the real sign-in form, from ``ip``."""
    client = Client(REMOTE_ADDR=ip)
    response = client.post(reverse("login"), {"username": user.username, "password": f"{user.username}-pass-123"})
    assert response.status_code == 302, response.content[:300]
    return client


def entries(**filters: Any) -> list[tuple[str, str, int]]:
    """(action, actor, count) oldest first, leaving sign-ins out unless asked for."""
    rows = AuditEntry.objects.filter(**filters)
    if "action" not in filters:
        rows = rows.exclude(action="sign-in")
    return [(e.action, e.actor_label, e.count) for e in rows.order_by("created", "id")]


def upload(client: Client, project: Project, *files: bytes) -> Any:
    return client.post(
        reverse("projects:image-upload", args=[project.id]),
        {"file": [SimpleUploadedFile(f"{i}.png", data) for i, data in enumerate(files)]},
        HTTP_ACCEPT="application/json",
    )


def png(i: int) -> bytes:
    return make_image_bytes(color=(i * 40 % 256, 90, 200))


def key_api(workspace: Any, slot: int) -> Api:
    from workspaces.services import keys_of

    keys = keys_of(workspace=workspace)
    return Api(keys[f"training{slot}"], keys[f"prediction{slot}"])


def api_upload(api: Api, project: Project, *files: bytes) -> Any:
    images = [{"name": f"{i}.png", "contents": base64.b64encode(data).decode()} for i, data in enumerate(files)]
    return api.post(f"/projects/{project.id}/images/files", json_body={"images": images})


# ---------------------------------------------------------------------------------------------- what is written


def test_a_portal_session_says_who_did_what_from_where_with_counts(owner, team, project) -> None:  # type: ignore[no-untyped-def]
    client = signed_in(owner, HOME)
    assert upload(client, project, png(1), png(2), b"not an image", png(3)).status_code == 200
    fork = make_tag(project, "fork")
    ids = [str(i) for i in Image.objects.values_list("id", flat=True)]
    action = reverse("projects:images-action", args=[project.id])
    client.post(action, {"action": "tag", "image_ids": ids, "tag_ids": [fork.id]}, **HX)
    client.post(action, {"action": "delete", "image_ids": ids[:2]}, **HX)

    assert entries(workspace=team) == [
        ("workspace.create", "system", 1),
        ("project.create", "system", 1),
        ("image.upload", "owner", 3),  # one entry for the request; the rejected file adds nothing
        ("tag", "owner", 3),
        ("image.delete", "owner", 2),
    ]
    upload_entry = AuditEntry.objects.get(action="image.upload")
    assert (upload_entry.ip, upload_entry.project_id, upload_entry.project_name) == (HOME, project.id, "Forks")
    # Signed in once: an entry in each of the owner's workspaces (personal and team), from the same address.
    assert sorted(AuditEntry.objects.filter(action="sign-in").values_list("workspace__name", "ip")) == [
        ("Vision team", HOME), ("owner", HOME)]


def test_the_api_acts_as_the_key_it_used(owner, team, project) -> None:  # type: ignore[no-untyped-def]
    key1, key2 = key_api(team, 1), key_api(team, 2)
    assert api_upload(key2, project, png(1), png(2)).status_code == 200
    created = key1.post(f"/projects/{project.id}/tags?name=spoon")
    assert created.status_code == 200, created.content
    image_ids = ",".join(str(i) for i in Image.objects.values_list("id", flat=True))
    assert key1.delete(f"/projects/{project.id}/images?imageIds={image_ids}").status_code == 204
    assert key2.delete(f"/projects/{project.id}").status_code == 204

    assert entries(workspace=team)[2:] == [
        ("image.upload", "Training Key 2", 2),
        ("tag.create", "Training Key 1", 1),
        ("image.delete", "Training Key 1", 2),
        ("project.delete", "Training Key 2", 1),
    ]
    deleted = AuditEntry.objects.get(action="project.delete")
    assert deleted.actor_id is None and deleted.project_name == "Forks" and deleted.ip == "127.0.0.1"


def test_a_users_personal_key_is_training_key_1_of_their_personal_workspace(owner) -> None:  # type: ignore[no-untyped-def]
    from projects.services import project_create
    from workspaces.services import personal_keys

    project = project_create(created_by=owner, name="Mine")
    keys = personal_keys(user=owner)
    api = Api(keys.training_key, keys.prediction_key)
    assert api_upload(api, project, png(7)).status_code == 200
    assert entries(workspace=owner.personal_workspace)[-1] == ("image.upload", "Training Key 1", 1)


def test_training_publishing_and_export_are_written_with_the_iteration(owner) -> None:  # type: ignore[no-untyped-def]
    from predictions.models import StoredPrediction
    from tests.training.builders import completed_iteration, tagged_project
    from training.models import Iteration

    project = tagged_project(owner, name="Trees")
    client = signed_in(owner)
    client.post(reverse("training:train", args=[project.id]), {"training_type": "Regular", "force": "on"})
    queued = Iteration.objects.get(project=project)
    client.post(reverse("training:iteration-cancel", args=[queued.id]))
    done = completed_iteration(project, owner=owner)  # the builder queues through the service: "system"
    Iteration.objects.filter(id=done.id).update(artifact_path="models/x.pt")
    client.post(reverse("training:iteration-publish", args=[done.id]), {"publish_name": "prod"})
    client.post(reverse("predictions:iteration-export", args=[done.id]), {"platform": "ONNX"})
    client.post(reverse("training:iteration-unpublish", args=[done.id]))
    kept = StoredPrediction.objects.create(project=project, iteration=done, file="p.jpg")
    client.post(reverse("predictions:prediction-delete", args=[kept.id]))
    client.post(reverse("training:iteration-delete", args=[queued.id]))

    mine = AuditEntry.objects.filter(actor_label="owner").exclude(action="sign-in").order_by("created", "id")
    assert [(e.action, e.detail) for e in mine] == [
        ("iteration.train", {"iteration": "Iteration 1", "training_type": "Regular"}),
        ("iteration.cancel", {"iteration": "Iteration 1"}),
        ("iteration.publish", {"iteration": "Iteration 2", "publish_name": "prod"}),
        ("iteration.export", {"iteration": "Iteration 2", "platform": "ONNX", "flavor": ""}),
        ("iteration.unpublish", {"iteration": "Iteration 2", "publish_name": "prod"}),
        ("prediction.delete", {}),
        ("iteration.delete", {"iteration": "Iteration 1"}),
    ]
    assert {e.project_name for e in mine} == {"Trees"}


def test_tags_and_project_settings_are_written_with_their_names(owner, project) -> None:  # type: ignore[no-untyped-def]
    client = signed_in(owner)
    client.post(reverse("projects:tag-create", args=[project.id]), {"name": "Cherry"}, **HX)
    tag = Tag.objects.get(name="Cherry")
    client.post(reverse("projects:tag-edit", args=[project.id, tag.id]), {"name": "Wild cherry"}, **HX)
    client.post(reverse("projects:tag-delete", args=[project.id, tag.id]), **HX)
    client.post(reverse("projects:project-edit", args=[project.id]),
                {"name": "Cutlery", "description": "kitchen", "project_type": "detection",
                 "domain_detection": "1d8ffafe-ec40-4fb2-8f90-72b3b6cecea4"})  # Logo

    from workspaces.audit import describe

    said = [(e.action, describe(e).text) for e in
            AuditEntry.objects.filter(actor_label="owner").exclude(action="sign-in").order_by("created", "id")]
    assert said == [
        ("tag.create", "Cherry"),
        ("tag.rename", "Cherry → Wild cherry"),
        ("tag.delete", "Wild cherry"),
        ("project.rename", "Forks → Cutlery"),
        ("project.update", "description, domain"),
    ]


# ---------------------------------------------------------------------------------------------- one transaction


def test_a_batch_whose_every_image_is_rejected_writes_no_entry(owner, team, project) -> None:  # type: ignore[no-untyped-def]
    response = api_upload(key_api(team, 1), project, b"not an image", b"\x89PNG broken")
    assert response.status_code == 207 and not Image.objects.exists()
    assert not AuditEntry.objects.filter(action="image.upload").exists()
    client = signed_in(owner)
    assert upload(client, project, b"nope").status_code == 400
    assert not AuditEntry.objects.filter(action="image.upload").exists()


# A real database failure, injected with a trigger (no mocks): each vendor's way of refusing a statement.
FAIL = {
    "sqlite": (["CREATE TEMP TRIGGER fail_audit BEFORE {event} ON {table} "
                "BEGIN SELECT RAISE(ABORT, 'simulated failure'); END"],
               ["DROP TRIGGER fail_audit"]),
    "postgresql": (["CREATE FUNCTION tagsight_fail() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'simulated failure';"
                    " END $$ LANGUAGE plpgsql",
                    "CREATE TRIGGER fail_audit BEFORE {event} ON {table} FOR EACH ROW "
                    "EXECUTE FUNCTION tagsight_fail()"],
                   ["DROP TRIGGER fail_audit ON {table}", "DROP FUNCTION tagsight_fail()"]),
}


class failing:  # noqa: N801  (reads as a with-statement: ``with failing("DELETE", "projects_project"):``)
    def __init__(self, event: str, table: str) -> None:
        self.event, self.table = event, table

    def _run(self, statements: list[str]) -> None:
        with connection.cursor() as cursor:
            for sql in statements:
                cursor.execute(sql.format(event=self.event, table=self.table))

    def __enter__(self) -> None:
        self._run(FAIL[connection.vendor][0])

    def __exit__(self, *exc: object) -> None:
        self._run(FAIL[connection.vendor][1])


needs_triggers = pytest.mark.skipif(connection.vendor not in FAIL, reason="no failure trigger for this database")


@needs_triggers
def test_a_deletion_that_fails_after_its_entry_was_written_leaves_no_entry(project) -> None:  # type: ignore[no-untyped-def]
    from projects.services import project_delete

    with failing("DELETE", "projects_project"), pytest.raises(DatabaseError):
        project_delete(project=project)  # the entry is written first, then the delete is refused
    assert Project.objects.filter(id=project.id).exists()
    assert not AuditEntry.objects.filter(action="project.delete").exists()
    project_delete(project=project)
    assert AuditEntry.objects.filter(action="project.delete", project_name="Forks").count() == 1


@needs_triggers
def test_a_change_whose_entry_cannot_be_written_is_not_made(project) -> None:  # type: ignore[no-untyped-def]
    from projects.services import tag_create

    with failing("INSERT", "workspaces_auditentry"), pytest.raises(DatabaseError):
        tag_create(project=project, name="fork")
    assert not Tag.objects.exists()


@needs_triggers
def test_an_upload_counts_only_the_images_that_were_stored(owner, team, project) -> None:  # type: ignore[no-untyped-def]
    client = signed_in(owner)
    assert upload(client, project, png(1)).status_code == 201
    with failing("INSERT", "projects_image"):
        assert upload(client, project, png(2), png(3)).status_code == 200  # both refused by the database
    assert upload(client, project, png(4), png(5)).status_code == 200
    assert entries(action="image.upload") == [("image.upload", "owner", 1), ("image.upload", "owner", 2)]


# ---------------------------------------------------------------------------------------------- sessions of work


def test_box_and_tag_edits_in_one_session_are_one_entry_and_a_pause_starts_another(owner, team, project) -> None:  # type: ignore[no-untyped-def]
    client = signed_in(owner)
    upload(client, project, png(1))
    image = Image.objects.get()
    fork, knife = make_tag(project, "fork"), make_tag(project, "knife")
    box = {"left": "0.1", "top": "0.1", "width": "0.3", "height": "0.3"}
    create = reverse("labeling:region-create", args=[image.id])
    client.post(create, {**box, "tag": fork.id}, **HX)
    client.post(create, {**box, "left": "0.5", "tag": knife.id}, **HX)
    region = image.regions.get(tag=fork)
    client.post(reverse("labeling:region-update", args=[region.id]), {"left": "0.2"}, **HX)
    client.post(reverse("labeling:region-delete", args=[region.id]), **HX)
    # The API's edits are another actor's: their own entry, even within the same minutes.
    key_api(team, 1).post(f"/projects/{project.id}/images/regions", json_body={"regions": [
        {"imageId": str(image.id), "tagId": str(fork.id), "left": 0.6, "top": 0.6, "width": 0.2, "height": 0.2}]})
    assert entries(action="region") == [("region", "owner", 4), ("region", "Training Key 1", 1)]

    first = AuditEntry.objects.get(action="region", actor_label="owner")
    AuditEntry.objects.filter(pk=first.pk).update(last=first.last - timedelta(minutes=31))  # a pause of 31 minutes
    client.post(create, {**box, "top": "0.6", "tag": fork.id}, **HX)
    assert entries(action="region", actor_label="owner") == [("region", "owner", 4), ("region", "owner", 1)]

    toggle = reverse("projects:image-tags", args=[image.id])
    client.post(toggle, {"tag_id": knife.id, "action": "remove"}, **HX)
    client.post(toggle, {"tag_id": knife.id}, **HX)
    assert entries(action="tag") == [("tag", "owner", 2)]


# ---------------------------------------------------------------------------------------------- the page


def audit_url(workspace: Any, **query: str) -> str:
    from urllib.parse import urlencode

    return reverse("workspaces:audit", args=[workspace.id]) + (f"?{urlencode(query)}" if query else "")


def table_rows(html: str) -> list[list[str]]:
    """The text of each cell of each audit row."""
    rows = re.findall(r'<tr data-testid="audit-entry".*?</tr>', html, re.S)
    return [[" ".join(re.sub(r"<[^>]+>", " ", cell).split()) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
            for row in rows]


def test_the_page_lists_newest_first_and_filters_by_who_project_and_action(owner, team, project) -> None:  # type: ignore[no-untyped-def]
    from projects.services import project_create

    client = signed_in(owner, OFFICE)
    other = project_create(created_by=owner, workspace=team, name="Spoons")
    upload(client, project, png(1), png(2))
    upload(client, other, png(3))
    api_upload(key_api(team, 1), other, png(4))

    page = client.get(audit_url(team))
    assert page.status_code == 200
    rows = [(e.action, e.actor_label, e.project_name) for e, _ in page.context["rows"]]
    assert rows[:3] == [("image.upload", "Training Key 1", "Spoons"), ("image.upload", "owner", "Spoons"),
                        ("image.upload", "owner", "Forks")]
    html = page.content.decode()
    assert "Uploaded images" in html and "2 images" in html and OFFICE in html and "Training Key 1" in html
    assert [label for label in page.context["actors"]] == ["owner", "system", "Training Key 1"]
    assert [name for _, name in page.context["projects"]] == ["Forks", "Spoons"]

    def shown(**query: str) -> list[tuple[str, str, str]]:
        """(what, who, project) of each row of the fragment htmx swaps in, as the table shows them."""
        response = client.get(audit_url(team, **query), HTTP_HX_TARGET="audit-entries", **HX)
        html = response.content.decode()
        assert response.status_code == 200 and html.lstrip().startswith('<div id="audit-entries">')  # the fragment
        return [(row[3], row[1], row[4]) for row in table_rows(html)]

    assert shown(actor="Training Key 1") == [("Uploaded images 1 image", "Training Key 1", "Spoons")]
    assert shown(project=str(project.id)) == [("Uploaded images 2 images", "owner", "Forks"),
                                              ("Created the project", "system", "Forks")]
    assert shown(action="sign-in") == [("Signed in", "owner", "")]
    assert shown(actor="owner", project=str(other.id), action="image.upload") == [
        ("Uploaded images 1 image", "owner", "Spoons")]
    assert shown(action="no.such") == shown()  # an unknown action is no filter
    assert "No entry matches these filters." in client.get(audit_url(team, actor="nobody")).content.decode()


def test_the_page_is_paginated(owner, team, project) -> None:  # type: ignore[no-untyped-def]
    from workspaces import audit
    from workspaces.views import AUDIT_PAGE_SIZE

    for n in range(AUDIT_PAGE_SIZE + 5):
        audit.record(workspace_id=team.id, action="key.regenerate", key=f"training {n}")
    client = signed_in(owner)
    first = client.get(audit_url(team, action="key.regenerate"))
    assert len(first.context["rows"]) == AUDIT_PAGE_SIZE
    assert "page=2" in first.content.decode()
    second = client.get(audit_url(team, action="key.regenerate", page="2"))
    assert [d.text for _, d in second.context["rows"]] == [f"training {n}" for n in range(4, -1, -1)]


def test_only_owners_see_the_page_a_trainer_gets_403_and_a_stranger_404(  # type: ignore[no-untyped-def]
    owner, stranger, team, django_user_model
) -> None:
    from workspaces.models import Role
    from workspaces.services import member_add

    trainer = django_user_model.objects.create_user(username="trainer", password="trainer-pass-123")
    member_add(workspace=team, user=trainer, role=Role.TRAINER)
    assert signed_in(owner).get(audit_url(team)).status_code == 200
    trainer_client = signed_in(trainer)
    assert trainer_client.get(audit_url(team)).status_code == 403
    assert signed_in(stranger).get(audit_url(team)).status_code == 404
    # The Keys page links to the log for Owners only.
    keys = reverse("workspaces:keys", args=[team.id])
    assert audit_url(team) in signed_in(owner).get(keys).content.decode()
    assert audit_url(team) not in trainer_client.get(keys).content.decode()
    signed_in(owner).post(keys, {"kind": "training", "slot": "2"})
    assert "Training Key 2" in signed_in(owner).get(audit_url(team, action="key.regenerate")).content.decode()
