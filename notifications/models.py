"""Webhooks (per workspace or per project), their deliveries and attempts, and each user's e-mail preference."""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models.functions import Coalesce


def new_secret() -> str:
    return "whsec_" + secrets.token_hex(24)


class WebhookManager(models.Manager["Webhook"]):
    def get_queryset(self) -> models.QuerySet[Webhook]:
        # The workspace a webhook belongs to: its own, or its project's (which follows a moved project).
        return super().get_queryset().annotate(scope_workspace_id=Coalesce("workspace_id", "project__workspace_id"))


class Webhook(models.Model):
    """An HTTP endpoint told about ``events`` of one workspace's projects (``workspace`` set) or of one project."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(
        "workspaces.Workspace", null=True, blank=True, on_delete=models.CASCADE, related_name="webhooks"
    )
    project = models.ForeignKey("projects.Project", null=True, blank=True, on_delete=models.CASCADE,
                                related_name="webhooks")
    url = models.URLField(max_length=500)
    secret = models.CharField(max_length=100, default=new_secret)
    events = models.JSONField(default=list)  # a subset of training.events.EVENTS
    active = models.BooleanField(default=True)
    created = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")

    objects = WebhookManager()

    class Meta:
        ordering = ["created", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(workspace__isnull=False, project__isnull=True)
                | models.Q(workspace__isnull=True, project__isnull=False),
                name="webhook_one_scope",
            )
        ]

    def __str__(self) -> str:
        return self.url

    @property
    def owner_workspace_id(self) -> Any:
        if self.workspace_id is not None:
            return self.workspace_id
        return self.project.workspace_id if self.project is not None else None


class Delivery(models.Model):
    """One event sent to one webhook: the exact body, signed again at each attempt."""

    class Status(models.TextChoices):
        PENDING = "pending", "Retrying"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)  # X-Tagsight-Delivery
    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=40)
    body = models.TextField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_retry = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [models.Index(fields=["webhook", "-created"])]

    def __str__(self) -> str:
        return f"{self.event} to {self.webhook_id} ({self.status})"


class DeliveryAttempt(models.Model):
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveSmallIntegerField()
    at = models.DateTimeField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True, default="")
    duration_ms = models.PositiveIntegerField(default=0)
    next_retry = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["delivery", "number"]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.delivery_id}"

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class Preference(models.Model):
    """A user's notification choices (no row: the defaults)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    training_email = models.BooleanField(default=False)  # "E-mail me when a training I started finishes"

    def __str__(self) -> str:
        return f"notification preferences of {self.user_id}"
