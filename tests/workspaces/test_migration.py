"""A database from before workspaces (one key pair and the projects per user) migrates with nothing lost.

Each user gets a personal workspace with an Owner membership; their projects move into it; their old training
and prediction keys become Key 1 of that workspace and keep working on the API (listing exactly their
projects); a fresh Key 2 is added. A user without keys gets a workspace and four new keys.
"""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client

BEFORE = [("projects", "0002_image_metadata"), ("workspaces", None), ("labeling", "0001_initial"),
          ("training", "0005_iteration_notification_email"), ("predictions", "0001_initial")]


def _old_data(apps):  # type: ignore[no-untyped-def]
    """Two users with keys and projects (each project with a tag and a tagged image), one user without either."""
    User = apps.get_model("auth", "User")
    ApiKey = apps.get_model("projects", "ApiKey")
    Project = apps.get_model("projects", "Project")
    Tag = apps.get_model("projects", "Tag")
    Image = apps.get_model("projects", "Image")
    made = {}
    for name, projects in (("alice", ["A1", "A2"]), ("bob", ["B1"])):
        user = User.objects.create(username=name)
        key = ApiKey.objects.create(user=user, training_key=f"{name}-train-{uuid.uuid4().hex}",
                                    prediction_key=f"{name}-predict-{uuid.uuid4().hex}")
        for project_name in projects:
            project = Project.objects.create(name=project_name, owner=user)
            tag = Tag.objects.create(project=project, name="fork")
            image = Image.objects.create(project=project, file=f"i/{project_name}.jpg", thumbnail="t.jpg",
                                         display="d.jpg", width=64, height=48, sha256=project_name * 8,
                                         metadata={"source": project_name})
            image.tags.add(tag)
        made[name] = (user.id, key.training_key, key.prediction_key)
    User.objects.create(username="carol")  # signed up, never asked for keys
    return made


def _counts() -> dict[str, int]:
    with connection.cursor() as cursor:
        found = {}
        for table in ("projects_project", "projects_tag", "projects_image", "projects_image_tags"):
            cursor.execute(f"SELECT COUNT(*) FROM {table}")  # noqa: S608 (fixed table names)
            found[table] = cursor.fetchone()[0]
        return found


@pytest.mark.django_db(transaction=True)
def test_users_keys_and_projects_move_into_personal_workspaces() -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state([node for node in BEFORE if node[1]]).apps
    made = _old_data(old)
    before = _counts()

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    from django.contrib.auth.models import User

    from projects.models import Image, Project
    from workspaces.models import Membership, Workspace, WorkspaceKey

    assert _counts() == before
    for name, (user_id, training_key, prediction_key) in made.items():
        workspace = Workspace.objects.get(personal_for_id=user_id)
        assert workspace.name == name
        assert list(Membership.objects.filter(workspace=workspace).values_list("user_id", "role")) == [
            (user_id, "owner")]
        keys = {(k.kind, k.slot): k.key for k in WorkspaceKey.objects.filter(workspace=workspace)}
        assert keys[("training", 1)] == training_key and keys[("prediction", 1)] == prediction_key
        assert keys[("training", 2)] not in (training_key, "") and keys[("prediction", 2)] not in (prediction_key, "")
        assert len(set(keys.values())) == 4

        # Today's key still works, on exactly this user's projects, which kept their tags and images.
        response = Client().get("/customvision/v3.3/training/projects", HTTP_TRAINING_KEY=training_key)
        assert response.status_code == 200, response.content
        listed = sorted((p["name"], p["id"]) for p in response.json())
        mine = Project.objects.filter(workspace=workspace)
        assert listed == sorted((p.name, str(p.id)) for p in mine)
        assert all(p.created_by_id == user_id for p in mine)
        for project in mine:
            image = Image.objects.get(project=project)
            assert [t.name for t in image.tags.all()] == ["fork"] and image.metadata == {"source": project.name}
    assert sorted(Project.objects.values_list("name", flat=True)) == ["A1", "A2", "B1"]

    carol = User.objects.get(username="carol")
    workspace = Workspace.objects.get(personal_for=carol)
    assert Membership.objects.get(workspace=workspace).role == "owner"
    assert WorkspaceKey.objects.filter(workspace=workspace).count() == 4
    assert Workspace.objects.count() == 3  # one each, no team workspaces invented


@pytest.mark.django_db(transaction=True)
def test_audit_entries_written_by_a_key_take_the_keys_page_name() -> None:
    executor = MigrationExecutor(connection)
    executor.migrate([("workspaces", "0001_workspaces")])
    old = executor.loader.project_state([("workspaces", "0001_workspaces")]).apps
    User, Workspace = old.get_model("auth", "User"), old.get_model("workspaces", "Workspace")
    AuditEntry = old.get_model("workspaces", "AuditEntry")
    user = User.objects.create(username="alice")
    workspace = Workspace.objects.create(name="Team")
    for label, actor in (("API key 1", None), ("API key 2", None), ("alice", user)):
        AuditEntry.objects.create(workspace=workspace, actor=actor, actor_label=label, action="image.upload")

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    from workspaces.models import AuditEntry as Entry

    assert sorted(Entry.objects.values_list("actor_label", flat=True)) == ["Training Key 1", "Training Key 2", "alice"]
