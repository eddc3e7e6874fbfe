"""Workspace services: personal workspaces, members and roles, keys, invitations."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from workspaces import audit
from workspaces.errors import WorkspaceError
from workspaces.models import Invitation, Membership, Role, Workspace, WorkspaceKey, new_key


def _keys_ensure(workspace: Workspace) -> None:
    for kind in WorkspaceKey.Kind.values:
        for slot in (1, 2):
            WorkspaceKey.objects.get_or_create(workspace=workspace, kind=kind, slot=slot)


def personal_workspace_ensure(*, user: Any) -> Workspace:
    """The user's personal workspace, its Owner membership and its four keys (created when missing)."""
    workspace = Workspace.objects.filter(personal_for=user).first()
    if workspace is None:
        try:
            with transaction.atomic():
                workspace = Workspace.objects.create(name=user.get_username(), personal_for=user)
                Membership.objects.create(workspace=workspace, user=user, role=Role.OWNER)
                _keys_ensure(workspace)
        except IntegrityError:  # created by a concurrent request
            workspace = Workspace.objects.get(personal_for=user)
    return workspace


def workspace_create(*, name: str, owner: Any) -> Workspace:
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise WorkspaceError("A workspace needs a name of 1 to 100 characters.")
    if Workspace.objects.filter(name__iexact=name, personal_for__isnull=True).exists():
        raise WorkspaceError(f"A workspace named {name!r} already exists.", code="WorkspaceNameNotUnique")
    with transaction.atomic():
        workspace = Workspace.objects.create(name=name)
        Membership.objects.create(workspace=workspace, user=owner, role=Role.OWNER)
        _keys_ensure(workspace)
        audit.record(workspace_id=workspace.id, action="workspace.create", name=name)
    return workspace


def workspaces_of(*, user: Any) -> list[Workspace]:
    """The user's workspaces, personal first, each with ``role``."""
    personal_workspace_ensure(user=user)
    memberships = Membership.objects.filter(user=user).select_related("workspace")
    found = []
    for m in memberships:
        m.workspace.role = m.role  # type: ignore[attr-defined]
        found.append(m.workspace)
    return sorted(found, key=lambda w: (not w.is_personal or w.personal_for_id != user.pk, w.name.lower()))


def _owners(workspace_id: UUID) -> int:
    return Membership.objects.filter(workspace_id=workspace_id, role=Role.OWNER).count()


def member_add(*, workspace: Workspace, user: Any, role: str) -> Membership:
    if role not in Role.values:
        raise WorkspaceError(f"Unknown role {role!r}: owner, trainer, labeler or viewer.")
    with transaction.atomic():
        membership, created = Membership.objects.select_for_update().get_or_create(
            workspace=workspace, user=user, defaults={"role": role}
        )
        if not created and membership.role != role:
            return member_set_role(membership=membership, role=role)
        if created:
            audit.record(workspace_id=workspace.id, action="member.add", member=user.get_username(), role=role)
    return membership


def member_set_role(*, membership: Membership, role: str) -> Membership:
    if role not in Role.values:
        raise WorkspaceError(f"Unknown role {role!r}: owner, trainer, labeler or viewer.")
    with transaction.atomic():
        Workspace.objects.select_for_update().get(pk=membership.workspace_id)  # one role change at a time
        membership.refresh_from_db()
        if membership.role == Role.OWNER and role != Role.OWNER and _owners(membership.workspace_id) == 1:
            raise WorkspaceError("A workspace needs at least one Owner: make someone else Owner first.")
        old, membership.role = membership.role, role
        membership.save(update_fields=["role"])
        audit.record(workspace_id=membership.workspace_id, action="member.role",
                     member=membership.user.get_username(), role=role, was=old)
    return membership


def member_remove(*, membership: Membership) -> None:
    """Remove a member (or leave). The last Owner cannot go; a personal workspace keeps its own user."""
    with transaction.atomic():
        workspace = Workspace.objects.select_for_update().get(pk=membership.workspace_id)
        if workspace.personal_for_id == membership.user_id:
            raise WorkspaceError("This is the member's personal workspace: they cannot leave it.")
        if membership.role == Role.OWNER and _owners(workspace.id) == 1:
            raise WorkspaceError("A workspace needs at least one Owner: make someone else Owner first.")
        membership.delete()
        audit.record(workspace_id=workspace.id, action="member.remove", member=membership.user.get_username())


def key_regenerate(*, workspace: Workspace, kind: str, slot: int) -> WorkspaceKey:
    """Replace one key; the other key of the same kind keeps working (rotation without downtime)."""
    with transaction.atomic():
        key = WorkspaceKey.objects.select_for_update().get(workspace=workspace, kind=kind, slot=slot)
        key.key = new_key()
        key.save(update_fields=["key", "modified"])
        audit.record(workspace_id=workspace.id, action="key.regenerate",
                     key=f"{WorkspaceKey.Kind(kind).label} Key {slot}")
    return key


def keys_of(*, workspace: Workspace) -> dict[str, str]:
    """{"training1": ..., "training2": ..., "prediction1": ..., "prediction2": ...}"""
    _keys_ensure(workspace)
    return {f"{k.kind}{k.slot}": k.key for k in WorkspaceKey.objects.filter(workspace=workspace)}


def workspace_by_name(name: str) -> Workspace:
    found = list(Workspace.objects.filter(name=name))
    if not found:
        raise WorkspaceError(f"No workspace named {name!r}.", code="NotFound")
    if len(found) > 1:  # personal workspaces may share a team workspace's name: prefer the team one
        team = [w for w in found if not w.is_personal]
        if len(team) == 1:
            return team[0]
        raise WorkspaceError(f"Several workspaces are named {name!r}.")
    return found[0]


def user_get_or_create(*, username: str) -> tuple[Any, bool]:
    """A user for scripting (``manage.py apikeys``): created with an unusable password if new."""
    user, created = get_user_model().objects.get_or_create(username=username)
    if created:
        user.set_unusable_password()
        user.save()
    return user, created


def email_normalize(email: str) -> str:
    """An address as typed, trimmed and lower-cased (so re-inviting finds the open invitation); else an error."""
    email = (email or "").strip().lower()
    try:
        validate_email(email)
    except ValidationError as exc:
        shown = repr(email) if email else "An empty value"
        raise WorkspaceError(f"{shown} is not an e-mail address.", code="BadRequestEmail") from exc
    return email


def invitation_create(*, workspace: Workspace, email: str, role: str, invited_by: Any, site_url: str) -> Invitation:
    """Invite an address with a role and send it the link (``site_url``: this server, e.g. https://host).

    Re-inviting an address replaces its open invitation (a new link, the old one stops working). The e-mail is
    sent inside the transaction: when the mail server refuses it, nothing is kept and the Owner is told."""
    email = email_normalize(email)
    if role not in Role.values:
        raise WorkspaceError(f"Unknown role {role!r}: owner, trainer, labeler or viewer.")
    if Membership.objects.filter(workspace=workspace, user__email__iexact=email).exists():
        raise WorkspaceError(f"{email} is already a member of {workspace.name}.", code="AlreadyMember")
    with transaction.atomic():
        Invitation.objects.filter(workspace=workspace, email=email, accepted__isnull=True).delete()
        invitation = Invitation.objects.create(workspace=workspace, email=email, role=role, invited_by=invited_by)
        audit.record(workspace_id=workspace.id, action="member.invite", email=email, role=role)
        _invitation_send(invitation, site_url)
    return invitation


def _invitation_send(invitation: Invitation, site_url: str) -> None:
    context = {
        "invitation": invitation,
        "workspace": invitation.workspace,
        "inviter": invitation.invited_by.get_username() if invitation.invited_by else "An Owner",
        "role": Role(invitation.role).label,
        "link": site_url.rstrip("/") + reverse("workspaces:invitation", args=[invitation.token]),
        "days": settings.TAGSIGHT_INVITATION_DAYS,
    }
    subject = f"You are invited to {invitation.workspace.name} on Tagsight"
    body = render_to_string("workspaces/invitation_email.txt", context)
    try:
        send_mail(subject, body, None, [invitation.email])
    except OSError as exc:  # smtplib's errors are OSErrors, as are refused connections
        raise WorkspaceError(f"The invitation e-mail could not be sent ({exc}); check the EMAIL_* settings.",
                             code="EmailNotSent", status=502) from exc


def invitation_revoke(*, invitation: Invitation) -> None:
    """Withdraw an open invitation: its link stops working."""
    with transaction.atomic():
        invitation.delete()
        audit.record(workspace_id=invitation.workspace_id, action="member.uninvite", email=invitation.email)


def invitation_get(*, token: str) -> Invitation | None:
    """The invitation behind a link (open or not), or None for an unknown token."""
    return Invitation.objects.select_related("workspace").filter(token=token).first() if token else None


def invitation_accept(*, invitation: Invitation, user: Any) -> Membership:
    with transaction.atomic():
        invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
        if not invitation.is_open:
            raise WorkspaceError("This invitation has expired or was already used.", code="InvitationClosed")
        membership = Membership.objects.filter(workspace_id=invitation.workspace_id, user=user).first()
        if membership is None:
            membership = Membership.objects.create(
                workspace_id=invitation.workspace_id, user=user, role=invitation.role
            )
            audit.record(workspace_id=invitation.workspace_id, action="member.join",
                         member=user.get_username(), role=invitation.role, email=invitation.email)
        invitation.accepted, invitation.accepted_by = timezone.now(), user
        invitation.save(update_fields=["accepted", "accepted_by"])
    return membership


@dataclass(frozen=True)
class KeyPair:
    training_key: str
    prediction_key: str


def personal_keys(*, user: Any) -> KeyPair:
    """Key 1 of each kind of the user's personal workspace (what `manage.py apikeys USERNAME` prints)."""
    keys = keys_of(workspace=personal_workspace_ensure(user=user))
    return KeyPair(keys["training1"], keys["prediction1"])
