"""Template context for every page: the workspace switcher's list and what the user may do here (``access``);
signed out, whether the sign-in page offers to create an account (``self_registration``) and the single sign-on
button (``single_sign_on``)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse

from workspaces.access import Access, current_workspace_id


def workspaces(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not hasattr(user, "memberships"):
        return {"self_registration": settings.TAGSIGHT_SELF_REGISTRATION}

    def switcher() -> dict[str, Any]:
        from workspaces.services import workspaces_of

        # The page's own workspace (a project's) when it has one, else the one chosen in the session.
        # (No session on a bare request, such as an error page rendered outside the middleware: no current one.)
        current = access.workspace_id or (current_workspace_id(request) if hasattr(request, "session") else None)
        found = workspaces_of(user=user)
        for workspace in found:
            workspace.switch_next = _next_for(request, workspace.id, workspace.role)  # type: ignore[attr-defined]
        return {"all": found, "current": next((w for w in found if w.id == current), None)}

    access = getattr(request, "access", None) or Access(None, frozenset())
    return {"access": access, "workspace_switcher": switcher}


def single_sign_on(request: HttpRequest) -> dict[str, Any]:
    """``single_sign_on``: the provider's name for the login page's button, when OpenID Connect is configured."""
    return {"single_sign_on": settings.TAGSIGHT_OIDC_PROVIDER_NAME if settings.TAGSIGHT_OIDC else None}


def _next_for(request: HttpRequest, workspace_id: Any, role: str) -> str:
    """Where switching leads: the same page of the other workspace (its Members, its Keys), the page itself when
    it names nothing (the project list), else the other workspace's projects."""
    match = request.resolver_match
    if match is None or not match.kwargs:
        return request.get_full_path()
    keys_hidden = match.view_name == "workspaces:keys" and role not in ("owner", "trainer")
    if set(match.kwargs) == {"workspace_id"} and not keys_hidden:
        try:
            return reverse(match.view_name, kwargs={"workspace_id": workspace_id})
        except NoReverseMatch:
            pass
    return reverse("projects:project-list")
