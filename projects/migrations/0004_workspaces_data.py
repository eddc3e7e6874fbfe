"""Every user gets a personal workspace (Owner), their keys become its Key 1, their projects move into it."""

import secrets

from django.conf import settings
from django.db import migrations


def _key():
    return secrets.token_hex(16)


def forwards(apps, schema_editor):
    User = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    Workspace = apps.get_model("workspaces", "Workspace")
    Membership = apps.get_model("workspaces", "Membership")
    WorkspaceKey = apps.get_model("workspaces", "WorkspaceKey")
    ApiKey = apps.get_model("projects", "ApiKey")
    Project = apps.get_model("projects", "Project")
    old_keys = {k.user_id: k for k in ApiKey.objects.all()}
    for user in User.objects.all().iterator():
        workspace = Workspace.objects.filter(personal_for_id=user.pk).first()
        if workspace is None:
            name = getattr(user, "username", "") or f"user {user.pk}"  # historical models lack USERNAME_FIELD
            workspace = Workspace.objects.create(name=name[:100], personal_for_id=user.pk)
        Membership.objects.get_or_create(workspace=workspace, user_id=user.pk, defaults={"role": "owner"})
        old = old_keys.get(user.pk)
        for kind in ("training", "prediction"):
            # Today's keys keep working: they are Key 1 of the personal workspace.
            key1 = getattr(old, f"{kind}_key") if old is not None else _key()
            WorkspaceKey.objects.get_or_create(workspace=workspace, kind=kind, slot=1, defaults={"key": key1})
            WorkspaceKey.objects.get_or_create(workspace=workspace, kind=kind, slot=2, defaults={"key": _key()})
        Project.objects.filter(owner_id=user.pk).update(workspace=workspace, created_by_id=user.pk)


def backwards(apps, schema_editor):
    ApiKey = apps.get_model("projects", "ApiKey")
    WorkspaceKey = apps.get_model("workspaces", "WorkspaceKey")
    Project = apps.get_model("projects", "Project")
    for key in WorkspaceKey.objects.filter(slot=1, workspace__personal_for__isnull=False, kind="training"):
        prediction = WorkspaceKey.objects.get(workspace_id=key.workspace_id, kind="prediction", slot=1)
        ApiKey.objects.get_or_create(
            user_id=key.workspace.personal_for_id,
            defaults={"training_key": key.key, "prediction_key": prediction.key},
        )
    for project in Project.objects.select_related("workspace"):
        project.owner_id = project.created_by_id or project.workspace.personal_for_id
        project.save(update_fields=["owner"])


class Migration(migrations.Migration):
    dependencies = [
        ("projects", "0003_workspaces"),
        ("workspaces", "0001_workspaces"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]
    operations = [migrations.RunPython(forwards, backwards)]
