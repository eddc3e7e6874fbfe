"""Template context for every page: the workspace switcher's list and what the user may do here (``access``);
the single sign-on button of the login page."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from workspaces.access import Access, current_workspace_id


def workspaces(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not hasattr(user, "memberships"):
        return {}

    def switcher() -> dict[str, Any]:
        from workspaces.services import workspaces_of

        current = current_workspace_id(request)
        found = workspaces_of(user=user)
        return {"all": found, "current": next((w for w in found if w.id == current), None)}

    access = getattr(request, "access", None) or Access(None, frozenset())
    return {"access": access, "workspace_switcher": switcher}


def single_sign_on(request: HttpRequest) -> dict[str, Any]:
    """``single_sign_on``: the provider's name for the login page's button, when OpenID Connect is configured."""
    return {"single_sign_on": settings.TAGSIGHT_OIDC_PROVIDER_NAME if settings.TAGSIGHT_OIDC else None}
