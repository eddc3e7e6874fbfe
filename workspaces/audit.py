"""The audit log: ``record()`` writes who did what, in the caller's transaction.

The actor comes from the request (``acting_as``, entered by ``workspaces.access.access`` and by the API's key
check): a user, or "API key N"; work outside a request (a worker, a management command) is "system".
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

from django.db import transaction
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone

from workspaces.models import AuditEntry

# Edits that are counted per session of work rather than written one row per click.
SESSION_ACTIONS = {"tag", "region"}
SESSION_GAP = timedelta(minutes=30)


@dataclass(frozen=True)
class Actor:
    user_id: int | None
    label: str
    ip: str | None = None


SYSTEM = Actor(None, "system")
_actor: ContextVar[Actor] = ContextVar("tagsight_audit_actor", default=SYSTEM)


def client_ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


def actor_for(request: HttpRequest, principal: Any) -> Actor:
    user_id = None if getattr(principal, "pk", None) is None else principal.pk
    return Actor(user_id, principal.get_username(), client_ip(request))


@contextlib.contextmanager
def acting_as(actor: Actor) -> Iterator[None]:
    token = _actor.set(actor)
    try:
        yield
    finally:
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
    """Write an entry in the current transaction (so it commits, or not, with the change it describes)."""
    actor = actor or current_actor()
    now = timezone.now()
    fields = {
        "workspace_id": workspace_id,
        "action": action,
        "actor_id": actor.user_id,
        "actor_label": actor.label,
        "project_id": getattr(project, "pk", None),
    }
    with transaction.atomic():
        if action in SESSION_ACTIONS:
            entry = (
                AuditEntry.objects.select_for_update()
                .filter(**fields, last__gte=now - SESSION_GAP)
                .order_by("-last")
                .first()
            )
            if entry is not None:
                AuditEntry.objects.filter(pk=entry.pk).update(count=F("count") + count, last=now)
                entry.refresh_from_db()
                return entry
        return AuditEntry.objects.create(
            **fields,
            project_name=getattr(project, "name", "") or "",
            ip=actor.ip,
            count=count,
            detail=detail,
            created=now,
            last=now,
        )
