"""Workspace pages: the switcher, a new workspace, Members (invite, role, remove, leave), the Keys page, the
audit log, and the account page that leads to them. Signing up and accepting an invitation live in
``workspaces.accounts``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from workspaces import audit, services
from workspaces.access import SESSION_KEY, Need, access
from workspaces.errors import WorkspaceError
from workspaces.forms import InviteForm, MemberRoleForm, WorkspaceForm
from workspaces.models import Invitation, Membership, Role, Workspace, WorkspaceKey

# Sections that higher apps add to the account page (in their AppConfig.ready): each renders its HTML for the
# request's user (notifications: "E-mail me when a training I started finishes").
_account_panels: list[Callable[[HttpRequest], str]] = []


def account_panel_add(panel: Callable[[HttpRequest], str]) -> None:
    if panel not in _account_panels:
        _account_panels.append(panel)


@require_GET
@access(Need.ACCOUNT)
def account(request: HttpRequest) -> HttpResponse:
    """The user's account: their workspaces and roles; keys live on each workspace's Keys page."""
    panels = [panel(request) for panel in _account_panels]
    return render(request, "workspaces/account.html",
                  {"workspaces": services.workspaces_of(user=request.user), "panels": panels})


@require_POST
@access(Need.VIEW)
def workspace_switch(request: HttpRequest, workspace_id: UUID) -> HttpResponse:
    request.session[SESSION_KEY] = str(workspace_id)
    target = request.POST.get("next") or "/"
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = "/"
    return redirect(target)


@require_http_methods(["GET", "POST"])
@access(Need.TRAIN, post=Need.OWN)
def workspace_keys(request: HttpRequest, workspace_id: UUID) -> HttpResponse:
    """Training Key 1/2 (Owners) and Prediction Key 1/2 (Owners and Trainers); Owners regenerate each one."""
    workspace = get_object_or_404(Workspace, pk=workspace_id)
    if request.method == "POST":
        kind, slot = request.POST.get("kind", ""), request.POST.get("slot", "")
        if kind not in WorkspaceKey.Kind.values or slot not in ("1", "2"):
            raise Http404("No such key.")
        services.key_regenerate(workspace=workspace, kind=kind, slot=int(slot))
        label = WorkspaceKey.Kind(kind).label
        messages.success(request, f"{label} Key {slot} regenerated: the old one no longer works.")
        if request.htmx:  # type: ignore[attr-defined]
            return render(request, "workspaces/keys.html#keys", _keys_context(request, workspace))
        return redirect("workspaces:keys", workspace_id=workspace.id)
    return render(request, "workspaces/keys.html", _keys_context(request, workspace))


def _keys_context(request: HttpRequest, workspace: Workspace) -> dict[str, object]:
    keys = services.keys_of(workspace=workspace)
    can_own = request.access.can_own  # type: ignore[attr-defined]
    shown = [
        (kind, label, slot, keys[f"{kind}{slot}"])
        for kind, label in WorkspaceKey.Kind.choices
        if can_own or kind == WorkspaceKey.Kind.PREDICTION
        for slot in (1, 2)
    ]
    return {"workspace": workspace, "keys": shown, "can_own": can_own}


@require_http_methods(["GET", "POST"])
@access(Need.ACCOUNT)
def workspace_create(request: HttpRequest) -> HttpResponse:
    """Any signed-in user creates a team workspace (as one creates an Azure resource) and becomes its Owner."""
    form = WorkspaceForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            workspace = services.workspace_create(name=form.cleaned_data["name"], owner=request.user)
        except WorkspaceError as exc:
            form.add_error("name", exc.message)
        else:
            request.session[SESSION_KEY] = str(workspace.id)
            messages.success(request, f"Workspace “{workspace.name}” created. Invite your team.")
            return redirect("workspaces:members", workspace_id=workspace.id)
    return render(request, "workspaces/workspace_form.html", {"form": form})


# ---------------------------------------------------------------------------------------------- members


def _members_context(request: HttpRequest, workspace: Workspace, form: InviteForm | None = None) -> dict[str, Any]:
    members = list(Membership.objects.filter(workspace=workspace).select_related("user").order_by("user__username"))
    invitations = Invitation.objects.filter(workspace=workspace, accepted__isnull=True).select_related("invited_by")
    return {
        "workspace": workspace,
        "members": members,
        "owners": sum(m.role == Role.OWNER for m in members),
        "invitations": invitations,
        "roles": Role.choices,
        "form": form or InviteForm(),
        "invitation_days": settings.TAGSIGHT_INVITATION_DAYS,
    }


def _members_answer(request: HttpRequest, workspace: Workspace, form: InviteForm | None = None) -> HttpResponse:
    """htmx: the refreshed ``#members`` (messages out of band); no JS: back to the page."""
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "workspaces/members.html#members", _members_context(request, workspace, form))
    if form is not None and form.errors:
        return render(request, "workspaces/members.html", _members_context(request, workspace, form), status=400)
    return redirect("workspaces:members", workspace_id=workspace.id)


@require_http_methods(["GET", "POST"])
@access(Need.VIEW, post=Need.OWN)
def workspace_members(request: HttpRequest, workspace_id: UUID) -> HttpResponse:
    """Everyone sees who is in the workspace; Owners invite by e-mail (POST) and manage roles."""
    workspace = get_object_or_404(Workspace, pk=workspace_id)
    if request.method == "GET":
        return render(request, "workspaces/members.html", _members_context(request, workspace))
    form = InviteForm(request.POST)
    if form.is_valid():
        try:
            invitation = services.invitation_create(
                workspace=workspace, email=form.cleaned_data["email"], role=form.cleaned_data["role"],
                invited_by=request.user, site_url=request.build_absolute_uri("/"),
            )
        except WorkspaceError as exc:
            form.add_error("email" if exc.code in ("BadRequestEmail", "AlreadyMember") else None, exc.message)
        else:
            messages.success(request, f"Invitation sent to {invitation.email}.")
            form = None  # type: ignore[assignment]  # a fresh, empty form for the next one
    return _members_answer(request, workspace, form)


def _membership(workspace: Workspace, user_id: str | None) -> Membership:
    if not (user_id or "").isdigit():
        raise Http404("No such member.")
    return get_object_or_404(Membership.objects.select_related("user"), workspace=workspace, user_id=int(user_id or 0))


@require_POST
@access(Need.OWN)
def member_role(request: HttpRequest, workspace_id: UUID) -> HttpResponse:
    workspace = get_object_or_404(Workspace, pk=workspace_id)
    form = MemberRoleForm(request.POST)
    membership = _membership(workspace, request.POST.get("user"))
    if not form.is_valid():
        messages.error(request, f"Unknown role {request.POST.get('role', '')!r}: owner, trainer, labeler or viewer.")
        return _members_answer(request, workspace)
    try:
        services.member_set_role(membership=membership, role=form.cleaned_data["role"])
    except WorkspaceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{membership.user.get_username()} is now {Role(membership.role).label}.")
    return _members_answer(request, workspace)


@require_POST
@access(Need.OWN)
def member_remove(request: HttpRequest, workspace_id: UUID) -> HttpResponse:
    workspace = get_object_or_404(Workspace, pk=workspace_id)
    membership = _membership(workspace, request.POST.get("user"))
    if membership.user_id == request.user.pk:
        return workspace_leave(request, workspace_id=workspace_id)
    try:
        services.member_remove(membership=membership)
    except WorkspaceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{membership.user.get_username()} was removed from {workspace.name}.")
    return _members_answer(request, workspace)


@require_POST
@access(Need.VIEW)
def workspace_leave(request: HttpRequest, workspace_id: UUID) -> HttpResponse:
    """Any member leaves (but not their personal workspace, and not the last Owner: the service says why)."""
    workspace = get_object_or_404(Workspace, pk=workspace_id)
    membership = _membership(workspace, str(request.user.pk))
    try:
        services.member_remove(membership=membership)
    except WorkspaceError as exc:
        messages.error(request, exc.message)
        return _members_answer(request, workspace)
    if request.session.get(SESSION_KEY) == str(workspace.id):
        del request.session[SESSION_KEY]
    messages.success(request, f"You left {workspace.name}.")
    if request.htmx:  # type: ignore[attr-defined]
        return HttpResponseClientRedirect(reverse("projects:project-list"))
    return redirect("projects:project-list")


@require_POST
@access(Need.OWN)
def invitation_revoke(request: HttpRequest, workspace_id: UUID) -> HttpResponse:
    workspace = get_object_or_404(Workspace, pk=workspace_id)
    try:
        invitation = Invitation.objects.get(workspace=workspace, pk=UUID(request.POST.get("invitation", "")))
    except (ValueError, Invitation.DoesNotExist) as exc:
        raise Http404("No such invitation.") from exc
    services.invitation_revoke(invitation=invitation)
    messages.success(request, f"Invitation of {invitation.email} revoked: its link no longer works.")
    return _members_answer(request, workspace)


AUDIT_PAGE_SIZE = 50


def _uuid_or_none(value: str | None) -> UUID | None:
    try:
        return UUID(value) if value else None
    except ValueError:
        return None


@require_GET
@access(Need.OWN)
def workspace_audit(request: HttpRequest, workspace_id: UUID) -> HttpResponse:
    """The audit log (Owners): newest first, filtered by who, project and action; the filters swap #audit-entries."""
    workspace = get_object_or_404(Workspace, pk=workspace_id)
    params = request.GET
    action = params.get("action", "") if params.get("action") in audit.ACTIONS else ""
    project_id = _uuid_or_none(params.get("project"))
    actor = params.get("actor", "")
    entries = audit.entry_list(workspace_id=workspace.id, actor=actor, project_id=project_id, action=action)
    page = Paginator(entries, AUDIT_PAGE_SIZE).get_page(params.get("page"))
    query = params.copy()
    query.pop("page", None)
    context = {
        "workspace": workspace,
        "page": page,
        "rows": [(entry, audit.describe(entry)) for entry in page.object_list],
        "actors": audit.entry_actors(workspace_id=workspace.id),
        "projects": audit.entry_projects(workspace_id=workspace.id),
        "actions": [(name, a.label) for name, a in audit.ACTIONS.items()],
        "filters": {"actor": actor, "project": str(project_id or ""), "action": action},
        "query": query.urlencode(),
    }
    partial = bool(request.htmx) and request.htmx.target == "audit-entries"  # type: ignore[attr-defined]
    return render(request, "workspaces/audit.html" + ("#audit-entries" if partial else ""), context)
