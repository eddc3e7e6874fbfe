"""Workspaces app: the bottom of the stack (projects ← labeling ← training ← predictions build on it)."""

from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.contrib.auth.signals import user_logged_in
from django.db.models.signals import post_save


def _personal_workspace(sender: Any, instance: Any, created: bool, raw: bool = False, **kwargs: Any) -> None:
    if created and not raw:
        from workspaces.services import personal_workspace_ensure

        personal_workspace_ensure(user=instance)


class WorkspacesConfig(AppConfig):
    name = "workspaces"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from workspaces import audit

        post_save.connect(_personal_workspace, sender=settings.AUTH_USER_MODEL, dispatch_uid="personal_workspace")
        user_logged_in.connect(audit.signed_in, dispatch_uid="audit_sign_in")  # in each of the user's workspaces
