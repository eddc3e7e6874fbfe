"""URLs of the workspace pages: account, switcher, keys (members, invitations and the audit log join them)."""

from __future__ import annotations

from django.urls import path

from workspaces import views

app_name = "workspaces"
urlpatterns = [
    path("workspaces/<uuid:workspace_id>/switch", views.workspace_switch, name="switch"),
    path("workspaces/<uuid:workspace_id>/keys", views.workspace_keys, name="keys"),
    path("workspaces/<uuid:workspace_id>/audit", views.workspace_audit, name="audit"),
]
