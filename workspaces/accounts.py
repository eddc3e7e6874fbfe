"""Public account pages: an invitation's link (join, or create an account and join) and open self-registration.

They are reached signed out, so they are not behind ``workspaces.access.access``; the invitation's token is
what grants the way in, and the audit log names the user who joined.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from workspaces import audit, services
from workspaces.access import SESSION_KEY
from workspaces.errors import WorkspaceError
from workspaces.forms import InvitedSignUpForm, SignUpForm
from workspaces.models import Invitation, Role

# Sign-up signs the new user in with the password they just chose, whatever other backends (SSO) are set.
PASSWORD_BACKEND = "django.contrib.auth.backends.ModelBackend"


def _closed(request: HttpRequest, invitation: Invitation | None) -> HttpResponse:
    """A clear page for an unknown, used or expired link (404 / 410), saying what to do."""
    return render(request, "workspaces/invitation_closed.html", {"invitation": invitation},
                  status=404 if invitation is None else 410)


def _join(request: HttpRequest, invitation: Invitation, user: Any) -> HttpResponse:
    with audit.acting_as(audit.actor_for(request, user)):
        services.invitation_accept(invitation=invitation, user=user)
    request.session[SESSION_KEY] = str(invitation.workspace_id)
    messages.success(request, f"Welcome to {invitation.workspace.name}: you are a {Role(invitation.role).label}.")
    return redirect("projects:project-list")


@require_http_methods(["GET", "POST"])
def invitation(request: HttpRequest, token: str) -> HttpResponse:
    """Signed in: a Join button. Signed out: create an account for the invited address, or sign in and return."""
    found = services.invitation_get(token=token)
    if found is None or not found.is_open:
        return _closed(request, found)
    context: dict[str, Any] = {"invitation": found, "role": Role(found.role).label}
    try:
        if request.user.is_authenticated:
            if request.method == "POST":
                return _join(request, found, request.user)
            return render(request, "workspaces/invitation.html", context)
        form = InvitedSignUpForm(request.POST or None, email=found.email)
        if request.method == "POST" and form.is_valid():
            with transaction.atomic():  # no account is left behind when the invitation closed meanwhile
                user = form.save()
                services.personal_workspace_ensure(user=user)
                response = _join(request, found, user)
            login(request, user, backend=PASSWORD_BACKEND)
            request.session[SESSION_KEY] = str(found.workspace_id)  # login() starts a new session
            return response
    except WorkspaceError:  # expired or used between the page and the click
        found.refresh_from_db()
        return _closed(request, found)
    return render(request, "workspaces/invitation.html", {**context, "form": form})


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    """Open self-registration, only where ``TAGSIGHT_SELF_REGISTRATION`` is on (404 otherwise)."""
    if not settings.TAGSIGHT_SELF_REGISTRATION:
        raise Http404("Self-registration is off: ask an Owner for an invitation.")
    if request.user.is_authenticated:
        return redirect("projects:project-list")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            user = form.save()
            services.personal_workspace_ensure(user=user)
        login(request, user, backend=PASSWORD_BACKEND)
        messages.success(request, f"Welcome, {user.get_username()}: create your first project.")
        return redirect("projects:project-list")
    return render(request, "registration/signup.html", {"form": form})
