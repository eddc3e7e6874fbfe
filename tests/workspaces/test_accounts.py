"""Accounts: a new workspace, the switcher, an invitation's link (join / sign up), self-registration, password reset."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tests.factories import make_project
from workspaces.models import AuditEntry, Invitation, Membership, Workspace
from workspaces.services import invitation_create

pytestmark = pytest.mark.django_db


def invite(team, owner, email: str = "ann@example.com", role: str = "trainer") -> Invitation:  # type: ignore[no-untyped-def]
    return invitation_create(workspace=team, email=email, role=role, invited_by=owner, site_url="http://testserver")


def link_in(message) -> str:  # type: ignore[no-untyped-def]
    return re.search(r"http://testserver(/\S+)", message.body).group(1)  # type: ignore[union-attr]


# ---------------------------------------------------------------------------------------------- workspaces, switcher


def test_any_signed_in_user_creates_a_workspace_and_owns_it(stranger, stranger_client) -> None:  # type: ignore[no-untyped-def]
    response = stranger_client.post(reverse("workspaces:create"), {"name": "  Field team "})
    workspace = Workspace.objects.get(name="Field team")
    assert response["Location"] == reverse("workspaces:members", args=[workspace.id])
    assert Membership.objects.get(workspace=workspace, user=stranger).role == "owner"
    page = stranger_client.get("/").content.decode()  # the new workspace is now the current one
    assert '<strong class="switcher-name">Field team</strong>' in page


def test_a_workspace_name_is_required_and_unique(owner_client, team) -> None:  # type: ignore[no-untyped-def]
    assert "This field is required" in owner_client.post(reverse("workspaces:create"), {"name": ""}).content.decode()
    taken = owner_client.post(reverse("workspaces:create"), {"name": "forestry"}).content.decode()
    assert "already exists" in taken
    assert Workspace.objects.filter(personal_for__isnull=True).count() == 1


def test_the_switcher_lists_my_workspaces_with_roles_and_switches(owner, owner_client, team) -> None:  # type: ignore[no-untyped-def]
    make_project(owner, name="Mine")
    make_project(owner, name="Team's", workspace=team)
    page = owner_client.get("/").content.decode()
    assert 'data-testid="workspace-switcher"' in page and "Forestry" in page and "Mine" in page
    assert "Team&#x27;s" not in page
    switch = reverse("workspaces:switch", args=[team.id])
    assert f'action="{switch}"' in page
    response = owner_client.post(switch, {"next": "/"})
    assert response["Location"] == "/"
    page = owner_client.get("/").content.decode()
    assert "Team&#x27;s" in page and "Mine" not in page


def test_switching_on_a_members_page_leads_to_the_other_workspaces_members(owner, owner_client, team) -> None:  # type: ignore[no-untyped-def]
    from workspaces.services import personal_workspace_ensure

    personal = personal_workspace_ensure(user=owner)
    page = owner_client.get(reverse("workspaces:members", args=[team.id])).content.decode()
    assert f'name="next" value="{reverse("workspaces:members", args=[personal.id])}"' in page


def test_switch_refuses_an_outside_next(owner_client, team) -> None:  # type: ignore[no-untyped-def]
    response = owner_client.post(reverse("workspaces:switch", args=[team.id]), {"next": "https://evil.example/"})
    assert response["Location"] == "/"


# ---------------------------------------------------------------------------------------------- invitations


def test_signed_out_the_invitee_creates_an_account_and_joins(owner, team, client) -> None:  # type: ignore[no-untyped-def]
    make_project(owner, name="Hemlocks", workspace=team)
    invitation = invite(team, owner, "Ann@example.com")
    link = link_in(mail.outbox[0])
    page = client.get(link).content.decode()
    assert "Join Forestry" in page and "ann@example.com" in page and "Sign in and join" in page
    response = client.post(link, {"username": "ann", "email": "mallory@example.com",
                                  "password1": "a-long-pass-2024", "password2": "a-long-pass-2024"})
    assert response["Location"] == "/"
    ann = get_user_model().objects.get(username="ann")
    assert ann.email == "ann@example.com"  # the invitation's address, whatever was posted
    assert Membership.objects.get(workspace=team, user=ann).role == "trainer"
    assert Workspace.objects.filter(personal_for=ann).exists()
    page = client.get("/").content.decode()
    assert "Hemlocks" in page and "Welcome to Forestry" in page
    invitation.refresh_from_db()
    assert invitation.accepted_by == ann
    assert AuditEntry.objects.get(workspace=team, action="member.join").actor_label == "ann"
    assert client.get(link).status_code == 410  # used


def test_a_bad_sign_up_from_an_invitation_says_why_and_keeps_the_invitation(owner, team, client) -> None:  # type: ignore[no-untyped-def]
    invite(team, owner)
    link = link_in(mail.outbox[0])
    get_user_model().objects.create_user(username="ann", password="x-pass-12345")
    response = client.post(link, {"username": "ann", "password1": "short", "password2": "other"})
    page = response.content.decode()
    assert response.status_code == 200
    assert "A user with that username already exists" in page and "The two password fields" in page
    assert Invitation.objects.get().accepted is None


def test_signed_in_the_invitee_joins_with_one_click(owner, team, stranger, stranger_client) -> None:  # type: ignore[no-untyped-def]
    invite(team, owner, role="viewer")
    link = link_in(mail.outbox[0])
    page = stranger_client.get(link).content.decode()
    assert "Join workspace" in page and "stranger" in page
    assert not Membership.objects.filter(workspace=team, user=stranger).exists()  # GET changes nothing
    assert stranger_client.post(link)["Location"] == "/"
    assert Membership.objects.get(workspace=team, user=stranger).role == "viewer"


def test_signed_out_an_existing_user_signs_in_and_comes_back(owner, team, stranger, client) -> None:  # type: ignore[no-untyped-def]
    invite(team, owner)
    link = link_in(mail.outbox[0])
    page = client.get(link).content.decode()
    assert f'href="/accounts/login/?next={link}"' in page
    response = client.post("/accounts/login/", {"username": "stranger", "password": "stranger-pass-123", "next": link})
    assert response["Location"] == link
    client.post(link)
    assert Membership.objects.filter(workspace=team, user=stranger).exists()


def test_expired_used_and_unknown_links_get_a_clear_page(owner, team, client) -> None:  # type: ignore[no-untyped-def]
    invitation = invite(team, owner)
    Invitation.objects.filter(pk=invitation.pk).update(expires=timezone.now() - timedelta(minutes=1))
    response = client.get(f"/invite/{invitation.token}")
    assert response.status_code == 410 and "This invitation has expired" in response.content.decode()
    posted = client.post(f"/invite/{invitation.token}", {"username": "ann", "password1": "a-long-pass-2024",
                                                          "password2": "a-long-pass-2024"})
    assert posted.status_code == 410 and not get_user_model().objects.filter(username="ann").exists()
    unknown = client.get("/invite/not-a-token")
    assert unknown.status_code == 404 and "This invitation link is not valid" in unknown.content.decode()


# ---------------------------------------------------------------------------------------------- self-registration


def test_sign_up_is_off_by_default(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/accounts/signup/").status_code == 404
    assert client.post("/accounts/signup/", {"username": "x"}).status_code == 404
    assert "Create an account" not in client.get("/accounts/login/").content.decode()


def test_open_sign_up_creates_an_account_with_its_own_workspace(client, settings) -> None:  # type: ignore[no-untyped-def]
    settings.TAGSIGHT_SELF_REGISTRATION = True
    assert "Create an account" in client.get("/accounts/login/").content.decode()
    bad = client.post("/accounts/signup/", {"username": "bo", "email": "nope", "password1": "a-long-pass-2024",
                                            "password2": "a-long-pass-2024"})
    assert "Enter a valid email address" in bad.content.decode()
    response = client.post("/accounts/signup/", {"username": "bo", "email": "Bo@Example.com",
                                                 "password1": "a-long-pass-2024", "password2": "a-long-pass-2024"})
    assert response["Location"] == "/"
    bo = get_user_model().objects.get(username="bo")
    assert bo.email == "bo@example.com" and Workspace.objects.filter(personal_for=bo).exists()
    assert client.get("/").status_code == 200


# ---------------------------------------------------------------------------------------------- password reset


def test_password_reset_by_email_end_to_end(owner, client) -> None:  # type: ignore[no-untyped-def]
    owner.email = "owner@example.com"
    owner.save()
    assert "Forgot your password?" in client.get("/accounts/login/").content.decode()
    assert "Reset your password" in client.get("/accounts/password_reset/").content.decode()
    response = client.post("/accounts/password_reset/", {"email": "OWNER@example.com"}, follow=True)
    assert "Check your e-mail" in response.content.decode()
    (message,) = mail.outbox
    assert message.to == ["owner@example.com"] and message.subject == "Reset your Tagsight password"
    link = link_in(message)
    form = client.get(link, follow=True)  # Django swaps the token for a session and redirects
    assert "Choose a new password" in form.content.decode()
    done = client.post(form.redirect_chain[-1][0], {"new_password1": "brand-new-pass-9",
                                                    "new_password2": "brand-new-pass-9"}, follow=True)
    assert "Your password is changed" in done.content.decode()
    fresh = Client()
    assert not fresh.login(username="owner", password="owner-pass-123")
    signed_in = fresh.post("/accounts/login/", {"username": "owner", "password": "brand-new-pass-9"})
    assert signed_in["Location"] == "/"
    stale = client.get(link, follow=True)
    assert "This link no longer works" in stale.content.decode()


def test_password_reset_of_an_unknown_address_sends_nothing_and_says_the_same(client) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/accounts/password_reset/", {"email": "nobody@example.com"}, follow=True)
    assert "Check your e-mail" in response.content.decode() and not mail.outbox
