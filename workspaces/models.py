"""Workspaces (the self-hosted Azure resource): members with roles, the resource's keys, invitations, audit log."""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    TRAINER = "trainer", "Trainer"
    LABELER = "labeler", "Labeler"
    VIEWER = "viewer", "Viewer"


class Workspace(models.Model):
    """Holds projects and members. Every user has one personal workspace (``personal_for``)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100)
    personal_for = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="personal_workspace"
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_personal(self) -> bool:
        return self.personal_for_id is not None


class Membership(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["workspace", "user__username"]
        constraints = [models.UniqueConstraint(fields=["workspace", "user"], name="membership_unique")]

    def __str__(self) -> str:
        return f"{self.user} in {self.workspace} ({self.role})"


def new_key() -> str:
    return secrets.token_hex(16)


class WorkspaceKey(models.Model):
    """Training Key 1/2 and Prediction Key 1/2 of a workspace (Azure's Training-Key / Prediction-Key headers).

    Two of each kind so that a key is rotated without downtime: move the apps to the other one, regenerate."""

    class Kind(models.TextChoices):
        TRAINING = "training", "Training"
        PREDICTION = "prediction", "Prediction"

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="keys")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    slot = models.PositiveSmallIntegerField(choices=[(1, "Key 1"), (2, "Key 2")])
    key = models.CharField(max_length=64, unique=True, default=new_key)
    modified = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["workspace", "kind", "slot"]
        constraints = [models.UniqueConstraint(fields=["workspace", "kind", "slot"], name="workspace_key_unique")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} Key {self.slot} of {self.workspace}"  # never the key itself


def _invitation_expiry() -> datetime:
    return timezone.now() + timedelta(days=settings.TAGSIGHT_INVITATION_DAYS)


class Invitation(models.Model):
    """An Owner's invitation by e-mail: the link's token lets the invitee sign up (or sign in) and join."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=10, choices=Role.choices)
    token = models.CharField(max_length=64, unique=True, default=new_key)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created = models.DateTimeField(auto_now_add=True)
    expires = models.DateTimeField(default=_invitation_expiry)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    accepted = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"Invitation of {self.email} to {self.workspace}"

    @property
    def is_open(self) -> bool:
        return self.accepted is None and self.expires > timezone.now()


class AuditEntry(models.Model):
    """Who did what, when, from where. Written in the transaction of the change it describes.

    Repeated edits (tags, boxes) by one actor on one project within a session of work add to ``count`` of one
    entry (``last`` moves on) instead of writing a row per click."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="audit_entries")
    created = models.DateTimeField(default=timezone.now, db_index=True)
    last = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    actor_label = models.CharField(max_length=150)  # the username, or "Training Key 1"; kept if the user goes
    ip = models.GenericIPAddressField(null=True, blank=True)
    action = models.CharField(max_length=40, db_index=True)
    project_id = models.UUIDField(null=True, blank=True, db_index=True)  # no FK: the entry outlives the project
    project_name = models.CharField(max_length=200, blank=True, default="")
    count = models.PositiveIntegerField(default=1)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-last", "-id"]
        indexes = [models.Index(fields=["workspace", "-last"])]

    def __str__(self) -> str:
        return f"{self.actor_label} {self.action} {self.project_name}".strip()
