"""Workspace pages: the switcher, the Keys page, the audit log (and the account page that leads to them)."""

from __future__ import annotations

from uuid import UUID

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from workspaces import audit, services
from workspaces.access import SESSION_KEY, Need, access
from workspaces.models import Workspace, WorkspaceKey


@require_GET
@access(Need.ACCOUNT)
def account(request: HttpRequest) -> HttpResponse:
    """The user's account: their workspaces and roles; keys live on each workspace's Keys page."""
    return render(request, "workspaces/account.html", {"workspaces": services.workspaces_of(user=request.user)})


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
