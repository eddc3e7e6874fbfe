"""The Members page: everyone sees who is in; Owners invite, change roles and remove; anyone may leave."""

from __future__ import annotations

import pytest
from django.core import mail
from django.urls import reverse

from workspaces.models import AuditEntry, Invitation, Membership

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


def url(name: str, team) -> str:  # type: ignore[no-untyped-def]
    return reverse(f"workspaces:{name}", args=[team.id])


def test_a_member_sees_the_members_and_their_roles_but_no_owner_controls(team, member_client) -> None:  # type: ignore[no-untyped-def]
    member_client("trainer", "tina")
    _, client = member_client("viewer", "vera")
    page = client.get(url("members", team)).content.decode()
    assert "owner" in page and "tina" in page and "vera" in page
    assert "Send invitation" not in page and "Remove" not in page and 'name="role"' not in page
    assert "Leave workspace" in page


def test_an_owner_invites_by_email_and_the_mail_carries_the_link(owner_client, team) -> None:  # type: ignore[no-untyped-def]
    response = owner_client.post(url("members", team), {"email": "  Ann@Example.COM ", "role": "labeler"})
    assert response.status_code == 302
    invitation = Invitation.objects.get(workspace=team)
    assert (invitation.email, invitation.role) == ("ann@example.com", "labeler")
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["ann@example.com"]
    assert f"http://testserver/invite/{invitation.token}" in mail.outbox[0].body
    assert "Forestry" in mail.outbox[0].subject and "Labeler" in mail.outbox[0].body
    entry = AuditEntry.objects.get(workspace=team, action="member.invite")
    assert entry.actor_label == "owner" and entry.detail == {"email": "ann@example.com", "role": "labeler"}
    page = owner_client.get(url("members", team)).content.decode()
    assert "ann@example.com" in page and "Revoke" in page


def test_reinviting_replaces_the_open_invitation(owner_client, team) -> None:  # type: ignore[no-untyped-def]
    owner_client.post(url("members", team), {"email": "ann@example.com", "role": "labeler"})
    first = Invitation.objects.get(workspace=team).token
    owner_client.post(url("members", team), {"email": "ANN@example.com", "role": "trainer"}, **HX)
    (again,) = Invitation.objects.filter(workspace=team)
    assert again.token != first and again.role == "trainer"
    assert owner_client.get(f"/invite/{first}").status_code == 404


@pytest.mark.parametrize(("email", "role", "message"), [
    ("not-an-address", "labeler", "is not an e-mail address"),
    ("", "labeler", "This field is required"),
    ("ann@example.com", "admin", "Select a valid choice"),
])
def test_bad_invitations_are_refused_with_a_message(owner_client, team, email, role, message) -> None:  # type: ignore[no-untyped-def]
    response = owner_client.post(url("members", team), {"email": email, "role": role}, **HX)
    assert response.status_code == 200 and message in response.content.decode()
    assert not Invitation.objects.exists() and not mail.outbox
    plain = owner_client.post(url("members", team), {"email": email, "role": role})
    assert plain.status_code == 400 and message in plain.content.decode()


def test_inviting_a_member_again_is_refused(owner_client, team, member_client) -> None:  # type: ignore[no-untyped-def]
    member_client("labeler", "lee")
    response = owner_client.post(url("members", team), {"email": "LEE@example.com", "role": "viewer"}, **HX)
    assert "lee@example.com is already a member of Forestry" in response.content.decode()
    assert not Invitation.objects.exists()


def test_a_mail_server_that_refuses_keeps_nothing_and_says_so(owner_client, team, settings) -> None:  # type: ignore[no-untyped-def]
    import socket

    with socket.socket() as s:  # a port nobody listens on: the real SMTP backend's connection is refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_USE_TLS = "127.0.0.1", port, False
    response = owner_client.post(url("members", team), {"email": "ann@example.com", "role": "viewer"}, **HX)
    assert "could not be sent" in response.content.decode()
    assert not Invitation.objects.exists()
    assert not AuditEntry.objects.filter(action="member.invite").exists()


@pytest.mark.parametrize("role", ["trainer", "labeler", "viewer"])
def test_only_owners_invite_change_roles_remove_or_revoke(team, member_client, owner_client, role) -> None:  # type: ignore[no-untyped-def]
    owner_client.post(url("members", team), {"email": "ann@example.com", "role": "viewer"})
    invitation = Invitation.objects.get()
    other, _ = member_client("labeler", "other")
    _, client = member_client(role)
    assert client.post(url("members", team), {"email": "bob@example.com", "role": "owner"}).status_code == 403
    assert client.post(url("member-role", team), {"user": other.pk, "role": "owner"}).status_code == 403
    assert client.post(url("member-remove", team), {"user": other.pk}).status_code == 403
    assert client.post(url("invitation-revoke", team), {"invitation": invitation.pk}).status_code == 403
    assert Membership.objects.get(workspace=team, user=other).role == "labeler"
    assert Invitation.objects.count() == 1


def test_a_non_member_gets_404_on_every_members_route(team, stranger_client) -> None:  # type: ignore[no-untyped-def]
    assert stranger_client.get(url("members", team)).status_code == 404
    for name in ("members", "member-role", "member-remove", "leave", "invitation-revoke"):
        assert stranger_client.post(url(name, team), {"email": "x@example.com", "role": "owner"}).status_code == 404


def test_an_owner_changes_a_role(owner_client, team, member_client) -> None:  # type: ignore[no-untyped-def]
    lee, _ = member_client("labeler", "lee")
    response = owner_client.post(url("member-role", team), {"user": lee.pk, "role": "trainer"}, **HX)
    assert "lee is now Trainer" in response.content.decode()
    assert Membership.objects.get(workspace=team, user=lee).role == "trainer"
    assert AuditEntry.objects.filter(workspace=team, action="member.role").exists()
    bad = owner_client.post(url("member-role", team), {"user": lee.pk, "role": "boss"}, **HX)
    assert "Unknown role" in bad.content.decode()
    assert owner_client.post(url("member-role", team), {"user": 999999, "role": "viewer"}).status_code == 404


def test_the_last_owner_cannot_step_down_or_leave(owner, owner_client, team) -> None:  # type: ignore[no-untyped-def]
    response = owner_client.post(url("member-role", team), {"user": owner.pk, "role": "viewer"}, **HX)
    assert "at least one Owner" in response.content.decode()
    response = owner_client.post(url("leave", team), **HX)
    assert "at least one Owner" in response.content.decode()
    assert Membership.objects.get(workspace=team, user=owner).role == "owner"


def test_an_owner_removes_a_member_after_confirming(owner_client, team, member_client) -> None:  # type: ignore[no-untyped-def]
    lee, lee_client = member_client("labeler", "lee")
    page = owner_client.get(url("members", team)).content.decode()
    assert 'hx-confirm="Remove lee from Forestry?' in page
    response = owner_client.post(url("member-remove", team), {"user": lee.pk}, **HX)
    assert "lee was removed from Forestry" in response.content.decode()
    assert not Membership.objects.filter(workspace=team, user=lee).exists()
    assert lee_client.get(url("members", team)).status_code == 404


def test_a_member_leaves_and_loses_access(team, member_client) -> None:  # type: ignore[no-untyped-def]
    _, client = member_client("viewer", "vera")
    page = client.get(url("members", team)).content.decode()
    assert 'hx-confirm="Leave Forestry?' in page
    response = client.post(url("leave", team), **HX)
    assert response.status_code == 200 and response["HX-Redirect"] == "/"
    assert client.get(url("members", team)).status_code == 404


def test_nobody_leaves_their_personal_workspace(owner, owner_client) -> None:  # type: ignore[no-untyped-def]
    from workspaces.services import personal_workspace_ensure

    personal = personal_workspace_ensure(user=owner)
    assert "Leave workspace" not in owner_client.get(url("members", personal)).content.decode()
    response = owner_client.post(url("leave", personal), **HX)
    assert "personal workspace" in response.content.decode()
    assert Membership.objects.filter(workspace=personal, user=owner).exists()


def test_an_owner_revokes_an_invitation_and_its_link_dies(owner_client, team, client) -> None:  # type: ignore[no-untyped-def]
    owner_client.post(url("members", team), {"email": "ann@example.com", "role": "viewer"})
    invitation = Invitation.objects.get()
    page = owner_client.get(url("members", team)).content.decode()
    assert 'hx-confirm="Revoke the invitation of ann@example.com?' in page
    response = owner_client.post(url("invitation-revoke", team), {"invitation": invitation.pk}, **HX)
    assert "revoked" in response.content.decode()
    assert client.get(f"/invite/{invitation.token}").status_code == 404
    assert owner_client.post(url("invitation-revoke", team), {"invitation": "nope"}).status_code == 404
