"""Notifications app (top of the stack): the training e-mail and webhooks, fed by training.events."""

from __future__ import annotations

from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from notifications import services, views
        from notifications.models import Webhook
        from training.events import listener_add
        from workspaces.access import resolver_add
        from workspaces.views import account_panel_add

        listener_add(services.on_event)
        resolver_add("webhook_id", Webhook, "scope_workspace_id")
        account_panel_add(views.account_panel)
