"""Who a provider's claims make you in Tagsight (workspaces.oidc.Backend.user_for_claims), and the settings.

The whole flow against a real provider is tests/e2e/test_sso.py; these are the decisions after the
userinfo answer, each with its refusal sentence, plus a configuration that is half there failing loudly.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from workspaces.models import Membership, Workspace
from workspaces.oidc import Backend, SignInRefused, username_for

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def backend(settings):  # type: ignore[no-untyped-def]
    """The backend as configured by TAGSIGHT_OIDC_* (endpoints are not contacted by these tests)."""
    settings.OIDC_RP_CLIENT_ID = "tagsight"
    settings.OIDC_RP_CLIENT_SECRET = "secret"
    settings.OIDC_OP_TOKEN_ENDPOINT = "https://idp.invalid/token"
    settings.OIDC_OP_USER_ENDPOINT = "https://idp.invalid/userinfo"
    settings.OIDC_OP_JWKS_ENDPOINT = "https://idp.invalid/jwks"
    settings.OIDC_RP_SIGN_ALGO = "RS256"
    settings.OIDC_CREATE_USER = True
    settings.TAGSIGHT_OIDC_PROVIDER_NAME = "Contoso ID"
    return Backend()


@pytest.mark.django_db
def test_a_new_user_gets_a_free_username_and_a_personal_workspace(backend, django_user_model):  # type: ignore[no-untyped-def]
    django_user_model.objects.create_user("Dana@contoso.com", email="other@contoso.com")
    user = backend.user_for_claims({"email": "dana@CONTOSO.com", "preferred_username": "dana@contoso.com",
                                    "name": "Dana Scully"})
    assert (user.username, user.email, user.first_name, user.has_usable_password()) == (
        "dana@contoso.com-2", "dana@contoso.com", "Dana Scully", False)
    workspace = Workspace.objects.get(personal_for=user)
    assert Membership.objects.get(workspace=workspace).user == user


@pytest.mark.django_db
def test_usernames_keep_only_what_django_accepts(django_user_model):  # type: ignore[no-untyped-def]
    assert username_for({"preferred_username": "Jean Luc (Picard)", "email": "x@y.z"}) == "Jean-Luc-Picard"
    assert username_for({"email": "only@mail.example"}) == "only@mail.example"
    assert username_for({"preferred_username": "###", "email": "a@b.c"}) == "user"
    assert len(username_for({"preferred_username": "n" * 400})) <= 150


@pytest.mark.django_db
def test_an_existing_user_is_found_by_email_in_any_case_and_kept_up_to_date(backend, django_user_model):  # type: ignore[no-untyped-def]
    alice = django_user_model.objects.create_user("alice", email="alice@contoso.com", password="alice-pass-123")
    found = backend.user_for_claims({"email": "ALICE@contoso.com", "given_name": "Alice", "family_name": "Liddell"})
    assert found == alice
    alice.refresh_from_db()
    assert (alice.email, alice.first_name, alice.last_name) == ("ALICE@contoso.com", "Alice", "Liddell")
    assert alice.check_password("alice-pass-123"), "her own password still works"
    assert django_user_model.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("claims", "says"),
    [
        ({"sub": "1"}, "Contoso ID did not tell Tagsight your e-mail address"),
        ({"email": "  "}, "Contoso ID did not tell Tagsight your e-mail address"),
        ({"email": "eve@contoso.com", "email_verified": False}, "has not verified your e-mail address"),
    ],
)
def test_claims_without_a_usable_email_are_refused(backend, django_user_model, claims, says):  # type: ignore[no-untyped-def]
    with pytest.raises(SignInRefused, match=says):
        backend.user_for_claims(claims)
    assert not django_user_model.objects.exists()


@pytest.mark.django_db
def test_without_account_creation_only_known_addresses_get_in(backend, settings, django_user_model):  # type: ignore[no-untyped-def]
    settings.OIDC_CREATE_USER = False
    with pytest.raises(SignInRefused, match="No Tagsight account uses the e-mail address new@contoso.com. Ask a"):
        backend.user_for_claims({"email": "new@contoso.com"})
    assert not django_user_model.objects.exists()


@pytest.mark.django_db
def test_ambiguous_and_disabled_accounts_are_refused(backend, django_user_model):  # type: ignore[no-untyped-def]
    django_user_model.objects.create_user("one", email="shared@contoso.com")
    django_user_model.objects.create_user("two", email="Shared@contoso.com")
    with pytest.raises(SignInRefused, match="Several Tagsight accounts use the e-mail address shared@contoso.com"):
        backend.user_for_claims({"email": "shared@contoso.com"})
    django_user_model.objects.create_user("gone", email="gone@contoso.com", is_active=False)
    with pytest.raises(SignInRefused, match="disabled"):
        backend.user_for_claims({"email": "gone@contoso.com"})


def test_half_a_configuration_names_what_is_missing(tmp_path):  # type: ignore[no-untyped-def]
    env = {"PATH": "/usr/bin:/bin", "TAGSIGHT_DATA_DIR": str(tmp_path), "TAGSIGHT_OIDC_CLIENT_ID": "tagsight",
           "TAGSIGHT_OIDC_TOKEN_ENDPOINT": "https://idp.example/token"}
    done = subprocess.run([sys.executable, "-c", "import portal.settings"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert ("TAGSIGHT_OIDC_CLIENT_ID is set, so single sign-on also needs TAGSIGHT_OIDC_CLIENT_SECRET, "
            "TAGSIGHT_OIDC_AUTHORIZATION_ENDPOINT, TAGSIGHT_OIDC_USERINFO_ENDPOINT, TAGSIGHT_OIDC_JWKS_ENDPOINT"
            ) in done.stderr
    env.update(TAGSIGHT_OIDC_CLIENT_SECRET="s", TAGSIGHT_OIDC_AUTHORIZATION_ENDPOINT="https://idp.example/auth",
               TAGSIGHT_OIDC_USERINFO_ENDPOINT="https://idp.example/userinfo", TAGSIGHT_OIDC_SIGN_ALGO="HS256")
    done = subprocess.run([sys.executable, "-c", "import portal.settings as s; print(s.AUTHENTICATION_BACKENDS)"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "workspaces.oidc.Backend" in done.stdout, "HS256 needs no JWKS endpoint: the client secret checks it"
