"""URLs of the workspace pages: switcher, new workspace, members, keys; the public invitation and sign-up pages."""

from __future__ import annotations

from django.urls import path

from workspaces import accounts, views

app_name = "workspaces"
urlpatterns = [
    path("workspaces/<uuid:workspace_id>/switch", views.workspace_switch, name="switch"),
    path("workspaces/<uuid:workspace_id>/keys", views.workspace_keys, name="keys"),
    path("workspaces/new", views.workspace_create, name="create"),
    path("workspaces/<uuid:workspace_id>/members", views.workspace_members, name="members"),
    path("workspaces/<uuid:workspace_id>/members/role", views.member_role, name="member-role"),
    path("workspaces/<uuid:workspace_id>/members/remove", views.member_remove, name="member-remove"),
    path("workspaces/<uuid:workspace_id>/leave", views.workspace_leave, name="leave"),
    path("workspaces/<uuid:workspace_id>/invitations/revoke", views.invitation_revoke, name="invitation-revoke"),
    # Public: reached signed out (tests/test_strangers.py PUBLIC).
    path("invite/<str:token>", accounts.invitation, name="invitation"),
    path("accounts/signup/", accounts.signup, name="signup"),
    path("workspaces/<uuid:workspace_id>/audit", views.workspace_audit, name="audit"),
]
