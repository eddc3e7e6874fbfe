"""The audit log: ``record()`` writes who did what, in the caller's transaction; ``ACTIONS`` names every action.

The actor comes from the request (``acting_as``, entered by ``workspaces.access.access`` and by the API's key
check): a user, or "Training Key N"; work outside a request (a worker, a management command) is "system".
"""

from __future__ import annotations

import contextlib
import string
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

from django.db import transaction
from django.db.models import F, Max, QuerySet
from django.http import HttpRequest
from django.utils import timezone

from workspaces.models import AuditEntry, Membership


@dataclass(frozen=True)
class Action:
    """How the audit page shows an action: ``label``; ``counts`` what ``count`` counts ("image": "12 images"),
    empty when it is always one; ``text`` the detail, formatted from the entry's detail (missing keys: blank)."""

    label: str
    counts: str = ""
    text: str = ""


# Every action the log writes, in the order the page's filter lists them. Other apps record these names only.
ACTIONS: dict[str, Action] = {
    "sign-in": Action("Signed in"),
    "image.upload": Action("Uploaded images", "image"),
    "image.delete": Action("Deleted images", "image"),
    "tag": Action("Changed image tags", "change"),
    "region": Action("Edited boxes", "change"),
    "tag.create": Action("Created a tag", text="{tag}"),
    "tag.rename": Action("Renamed a tag", text="{was} → {tag}"),
    "tag.update": Action("Changed a tag", text="{tag}: {fields}"),
    "tag.delete": Action("Deleted a tag", text="{tag}"),
    "project.create": Action("Created the project"),
    "project.rename": Action("Renamed the project", text="{was} → {name}"),
    "project.update": Action("Changed the project's settings", text="{fields}"),
    "project.delete": Action("Deleted the project"),
    "project.move": Action("Moved the project", text="{from_workspace} → {to_workspace}"),
    "project.archive": Action("Downloaded the project archive", text="{contents}"),
    "project.import": Action("Imported the project from an archive", text="{images} images, {iterations} iterations"),
    "iteration.train": Action("Started a training", text="{iteration} ({training_type})"),
    "iteration.cancel": Action("Cancelled a training", text="{iteration}"),
    "iteration.rename": Action("Renamed an iteration", text="{was} → {iteration}"),
    "iteration.publish": Action("Published an iteration", text="{iteration} as “{publish_name}”"),
    "iteration.unpublish": Action("Unpublished an iteration", text="{iteration} (was “{publish_name}”)"),
    "iteration.delete": Action("Deleted an iteration", text="{iteration}"),
    "iteration.export": Action("Exported a model", text="{iteration}: {platform} {flavor}"),
    "prediction.delete": Action("Deleted stored predictions", "prediction"),
    "key.regenerate": Action("Regenerated a key", text="{key}"),
    "member.invite": Action("Invited someone", text="{email} as {role}"),
    "member.uninvite": Action("Revoked an invitation", text="{email}"),
    "member.add": Action("Added a member", text="{member} as {role}"),
    "member.join": Action("Joined by invitation", text="{member} as {role}"),
    "member.role": Action("Changed a role", text="{member}: {was} → {role}"),
    "member.remove": Action("Removed a member", text="{member}"),
    "workspace.create": Action("Created the workspace", text="{name}"),
    "webhook.create": Action("Added a webhook", text="{url}"),
    "webhook.update": Action("Changed a webhook", text="{url}"),
    "webhook.secret": Action("Regenerated a webhook's secret", text="{url}"),
    "webhook.delete": Action("Deleted a webhook", text="{url}"),
    "import.customvision": Action("Imported from Custom Vision", "image", text="{projects} from {endpoint}"),
}

# Edits that are counted per session of work rather than written one row per click.
SESSION_ACTIONS = {"tag", "region"}
SESSION_GAP = timedelta(minutes=30)
# Actions counted per request: an upload of many files (portal or API batch) is one entry with the count added,
# though each image is written (with its share of the count) in its own transaction.
REQUEST_ACTIONS = {"image.upload"}


@dataclass(frozen=True)
class Actor:
    user_id: int | None
    label: str
    ip: str | None = None


SYSTEM = Actor(None, "system")
_actor: ContextVar[Actor] = ContextVar("tagsight_audit_actor", default=SYSTEM)
# The request's REQUEST_ACTIONS entries so far: (workspace, action, project) -> entry id. None outside a request.
_request_entries: ContextVar[dict[tuple[Any, ...], int] | None] = ContextVar("tagsight_audit_request", default=None)


def client_ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


def actor_for(request: HttpRequest, principal: Any) -> Actor:
    user_id = None if getattr(principal, "pk", None) is None else principal.pk
    return Actor(user_id, principal.get_username(), client_ip(request))


@contextlib.contextmanager
def acting_as(actor: Actor) -> Iterator[None]:
    """Record as ``actor`` inside the block: one request's work (its REQUEST_ACTIONS become one entry each)."""
    token, entries = _actor.set(actor), _request_entries.set({})
    try:
        yield
    finally:
        _request_entries.reset(entries)
        _actor.reset(token)


def current_actor() -> Actor:
    return _actor.get()


def record(
    *,
    workspace_id: UUID,
    action: str,
    project: Any = None,
    count: int = 1,
    actor: Actor | None = None,
    **detail: Any,
) -> AuditEntry:
    """Write an entry in the current transaction (so it commits, or not, with the change it describes).

    SESSION_ACTIONS by the same actor on the same project within SESSION_GAP of the last one, and
    REQUEST_ACTIONS within one request, add ``count`` to the entry they continue instead of writing a row."""
    if action not in ACTIONS:
        raise ValueError(f"Unknown audit action {action!r}: add it to workspaces.audit.ACTIONS")
    actor = actor or current_actor()
    now = timezone.now()
    fields = {
        "workspace_id": workspace_id,
        "action": action,
        "actor_id": actor.user_id,
        "actor_label": actor.label,
        "project_id": getattr(project, "pk", None),
    }
    request_entries = _request_entries.get() if action in REQUEST_ACTIONS else None
    request_key = (workspace_id, action, fields["project_id"])
    with transaction.atomic():
        continued = None
        if action in SESSION_ACTIONS:
            continued = (
                AuditEntry.objects.select_for_update()
                .filter(**fields, last__gte=now - SESSION_GAP)
                .order_by("-last")
                .values_list("pk", flat=True)
                .first()
            )
        elif request_entries is not None:
            continued = request_entries.get(request_key)
        # The entry continued may be gone (its transaction rolled back): then this one starts anew.
        if continued is not None and AuditEntry.objects.filter(pk=continued).update(count=F("count") + count, last=now):
            return AuditEntry.objects.get(pk=continued)
        entry = AuditEntry.objects.create(
            **fields,
            project_name=getattr(project, "name", "") or "",
            ip=actor.ip,
            count=count,
            detail=detail,
            created=now,
            last=now,
        )
    if request_entries is not None:
        request_entries[request_key] = entry.pk
    return entry


def signed_in(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    """``user_logged_in`` receiver (wired in apps.py): a sign-in is written in *every* workspace the user belongs
    to, since a sign-in is not about one workspace and each workspace's Owners should see who came in, and from
    where. One transaction: all the entries or none."""
    actor = actor_for(request, user) if request is not None else Actor(user.pk, user.get_username())
    with transaction.atomic():
        for workspace_id in Membership.objects.filter(user=user).values_list("workspace_id", flat=True):
            record(workspace_id=workspace_id, action="sign-in", actor=actor)


# ------------------------------------------------------------------------------------------ reading the log


class _Blank(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return ""


@dataclass(frozen=True)
class Described:
    """An entry as the audit page words it."""

    label: str
    amount: str  # "12 images"; empty when the action counts nothing
    text: str


def describe(entry: AuditEntry) -> Described:
    action = ACTIONS.get(entry.action, Action(entry.action))
    amount = f"{entry.count} {action.counts}{'' if entry.count == 1 else 's'}" if action.counts else ""
    detail = entry.detail if isinstance(entry.detail, dict) else {}
    names = {name for _, name, _, _ in string.Formatter().parse(action.text) if name}
    text = action.text.format_map(_Blank(detail)).strip(" :") if names & detail.keys() else ""
    return Described(action.label, amount, text)


def entry_list(
    *, workspace_id: UUID, actor: str = "", project_id: UUID | None = None, action: str = ""
) -> QuerySet[AuditEntry]:
    """The workspace's entries, newest first, narrowed by actor label, project and action when given."""
    entries = AuditEntry.objects.filter(workspace_id=workspace_id)
    if actor:
        entries = entries.filter(actor_label=actor)
    if project_id is not None:
        entries = entries.filter(project_id=project_id)
    if action:
        entries = entries.filter(action=action)
    return entries.order_by("-last", "-id")


def entry_actors(*, workspace_id: UUID) -> list[str]:
    """Everyone the log names in this workspace (users, "Training Key N", "system"), for the filter."""
    labels = AuditEntry.objects.filter(workspace_id=workspace_id).values_list("actor_label", flat=True)
    return sorted(set(labels), key=str.lower)


def entry_projects(*, workspace_id: UUID) -> list[tuple[UUID, str]]:
    """The projects the log names (deleted ones too), each under the name its latest entry gave it."""
    rows = (
        AuditEntry.objects.filter(workspace_id=workspace_id, project_id__isnull=False)
        .values("project_id", "project_name")
        .annotate(latest=Max("last"))
        .order_by("project_id", "-latest")
    )
    names: dict[UUID, str] = {}
    for row in rows:
        names.setdefault(row["project_id"], row["project_name"])
    return sorted(names.items(), key=lambda item: item[1].lower())
