"""URLs of the webhook pages and the e-mail preference."""

from __future__ import annotations

from django.urls import path

from notifications import views

app_name = "notifications"
urlpatterns = [
    path("workspaces/<uuid:workspace_id>/webhooks", views.workspace_webhooks, name="workspace-webhooks"),
    path("projects/<uuid:project_id>/webhooks", views.project_webhooks, name="project-webhooks"),
    path("webhooks/<uuid:webhook_id>/", views.webhook_detail, name="webhook-detail"),
    path("webhooks/<uuid:webhook_id>/test", views.webhook_test, name="webhook-test"),
    path("webhooks/<uuid:webhook_id>/secret", views.webhook_secret, name="webhook-secret"),
    path("webhooks/<uuid:webhook_id>/delete", views.webhook_delete, name="webhook-delete"),
    path("account/notifications", views.preferences, name="preferences"),
]
