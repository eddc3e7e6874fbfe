"""Single sign-on against a real OpenID provider: both servers run as processes, Chromium goes through the flow.

The provider is tests/oidc_provider (django-oauth-toolkit with OpenID Connect, an RSA key made here) and Tagsight is
``manage.py runserver`` with the TAGSIGHT_OIDC_* variables, as an administrator would configure it: mozilla-django-oidc
reads its settings when the URLconf is imported, so the configuration must be there when the process starts. What
Tagsight stored is read from its SQLite file.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.contrib.auth.hashers import MD5PasswordHasher  # the provider's hasher (tests/oidc_provider/settings.py)

# The browser, page and screenshot fixtures are tests/e2e/conftest.py's (one Chromium for the whole session: a
# second sync Playwright in the same process fails).

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
PROVIDER_NAME = "Test IdP"
CLIENT_ID = "tagsight-client"
CLIENT_SECRET = "tagsight-client-secret-0123456789"
PROVIDER_USERS = [
    {"username": "pat", "password": "pat-idp-pass", "email": "Pat.New@example.com",
     "first_name": "Pat", "last_name": "Newcomer"},
    {"username": "carol-idp", "password": "carol-idp-pass", "email": "CAROL.Existing@example.com"},
    {"username": "nomail", "password": "nomail-idp-pass", "email": ""},
]
# Tagsight's own database before anyone signs in: carol already has an account (with a password).
TAGSIGHT_SEED = """
import django
django.setup()
from django.contrib.auth import get_user_model
from django.core.management import call_command
call_command("migrate", interactive=False, verbosity=0)
call_command("collectstatic", interactive=False, verbosity=0)
get_user_model().objects.create_user("carol", email="carol.existing@example.com", password="carol-own-pass-1")
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(args: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{' '.join(args[:3])} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"


@dataclass
class Server:
    url: str
    database: Path
    proc: subprocess.Popen[bytes]
    log: Path


def _serve(port: int, env: dict[str, str], database: Path, log: Path) -> Server:
    """``runserver`` on the port, once it answers (any HTTP status counts)."""
    out = open(log, "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "django", "runserver", "--noreload", f"127.0.0.1:{port}"],
        cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
    )
    out.close()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(url + "/", timeout=2).close()
            break
        except urllib.error.HTTPError:
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                _stop(proc)
                pytest.fail(f"server on {url} did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
    return Server(url, database, proc, log)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _clean_env(**extra: str) -> dict[str, str]:
    dropped = ("DATABASE_URL", "TEST_DATABASE_NAME", "MEDIA_ROOT")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TAGSIGHT_", "OIDC_")) and k not in dropped}
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Server]]:
    """The provider and Tagsight, configured for each other; both databases are prepared side by side."""
    tmp = tmp_path_factory.mktemp("sso")
    provider_port, tagsight_port = _free_port(), _free_port()
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (tmp / "provider-key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                          serialization.NoEncryption())
    )
    (tmp / "provider-spec.json").write_text(json.dumps({
        "users": PROVIDER_USERS,
        "application": {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                        "redirect_uri": f"http://127.0.0.1:{tagsight_port}/oidc/callback/"},
    }))
    provider_env = _clean_env(
        DJANGO_SETTINGS_MODULE="tests.oidc_provider.settings",
        OIDC_PROVIDER_DB=str(tmp / "provider.sqlite3"),
        OIDC_PROVIDER_KEY=str(tmp / "provider-key.pem"),
    )
    op = f"http://127.0.0.1:{provider_port}/o"
    tagsight_env = _clean_env(
        DJANGO_SETTINGS_MODULE="portal.settings",
        TAGSIGHT_DATA_DIR=str(tmp / "tagsight"),
        STATICFILES_STORAGE_BACKEND="django.contrib.staticfiles.storage.StaticFilesStorage",
        TAGSIGHT_OIDC_CLIENT_ID=CLIENT_ID,
        TAGSIGHT_OIDC_CLIENT_SECRET=CLIENT_SECRET,
        TAGSIGHT_OIDC_AUTHORIZATION_ENDPOINT=f"{op}/authorize/",
        TAGSIGHT_OIDC_TOKEN_ENDPOINT=f"{op}/token/",
        TAGSIGHT_OIDC_USERINFO_ENDPOINT=f"{op}/userinfo/",
        TAGSIGHT_OIDC_JWKS_ENDPOINT=f"{op}/.well-known/jwks.json",
        TAGSIGHT_OIDC_PROVIDER_NAME=PROVIDER_NAME,
    )
    (tmp / "tagsight").mkdir()
    seeds = [
        subprocess.Popen([sys.executable, "-m", "tests.oidc_provider.seed", str(tmp / "provider-spec.json")],
                         cwd=ROOT, env=provider_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT),
        subprocess.Popen([sys.executable, "-c", TAGSIGHT_SEED], cwd=ROOT, env=tagsight_env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT),
    ]
    for seed in seeds:
        output = seed.communicate(timeout=180)[0]
        assert seed.returncode == 0, f"{seed.args[:3]} failed:\n{output.decode()[-3000:]}"
    provider = _serve(provider_port, provider_env, tmp / "provider.sqlite3", tmp / "provider.log")
    try:
        tagsight = _serve(tagsight_port, tagsight_env, tmp / "tagsight" / "tagsight.sqlite3", tmp / "tagsight.log")
        try:
            yield provider, tagsight
        finally:
            _stop(tagsight.proc)
    finally:
        _stop(provider.proc)


def _query(server: Server, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(f"file:{server.database}?mode=ro", uri=True) as db:
        return db.execute(sql, params).fetchall()


def _users(tagsight: Server) -> list[tuple[Any, ...]]:
    return _query(tagsight, "SELECT id, username, email, first_name, last_name FROM auth_user ORDER BY id")


def _start_sso(page: Any, tagsight: Server, shot: Any = None) -> None:
    page.goto(f"{tagsight.url}/accounts/login/")
    if shot:
        shot("sso-login")
    page.get_by_role("link", name=f"Sign in with {PROVIDER_NAME}").click()


def _provider_sign_in(page: Any, provider: Server, username: str, password: str) -> None:
    page.wait_for_url(re.compile(re.escape(provider.url) + r"/login/"))
    page.get_by_label("Provider username").fill(username)
    page.get_by_label("Provider password").fill(password)
    page.get_by_role("button", name="Continue").click()


def _signed_in_as(page: Any, tagsight: Server, username: str) -> None:
    page.wait_for_url(f"{tagsight.url}/")
    assert page.get_by_test_id("account").inner_text() == username


def _refused(page: Any, tagsight: Server) -> str:
    page.wait_for_url(re.compile(re.escape(tagsight.url) + r"/accounts/login/"))
    return str(page.get_by_role("alert").inner_text())


def test_first_sign_in_creates_the_user_and_the_next_one_finds_them(servers, page, screenshot):  # type: ignore[no-untyped-def]
    provider, tagsight = servers
    before = _users(tagsight)
    _start_sso(page, tagsight, screenshot)
    _provider_sign_in(page, provider, "pat", "pat-idp-pass")
    _signed_in_as(page, tagsight, "pat")

    created = [u for u in _users(tagsight) if u not in before]
    assert [u[1:] for u in created] == [("pat", "Pat.New@example.com", "Pat", "Newcomer")]
    user_id = created[0][0]
    workspaces = _query(tagsight, "SELECT w.name, m.role FROM workspaces_workspace w JOIN workspaces_membership m "
                                  "ON m.workspace_id = w.id WHERE w.personal_for_id = ? AND m.user_id = ?",
                        user_id, user_id)
    assert workspaces == [("pat", "owner")], "a new user gets a personal workspace they own"
    assert _query(tagsight, "SELECT password FROM auth_user WHERE id = ?", user_id)[0][0].startswith("!"), \
        "a user created by single sign-on has no Tagsight password"

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(re.escape(tagsight.url) + r"/accounts/login/"))
    _start_sso(page, tagsight)  # still signed in at the provider: straight back
    _signed_in_as(page, tagsight, "pat")
    assert _users(tagsight) == before + created, "the second sign-in is the same user"


def test_a_provider_user_with_an_existing_users_email_signs_in_as_that_user(servers, page):  # type: ignore[no-untyped-def]
    provider, tagsight = servers
    before = _users(tagsight)
    _start_sso(page, tagsight)
    _provider_sign_in(page, provider, "carol-idp", "carol-idp-pass")
    _signed_in_as(page, tagsight, "carol")
    after = _users(tagsight)
    assert len(after) == len(before), "no new account for an e-mail address Tagsight knows"
    assert [u[2] for u in after if u[1] == "carol"] == ["CAROL.Existing@example.com"], "as the provider spells it now"


def test_a_provider_user_without_an_email_address_is_refused_with_a_reason(servers, page, screenshot):  # type: ignore[no-untyped-def]
    provider, tagsight = servers
    before = _users(tagsight)
    _start_sso(page, tagsight)
    _provider_sign_in(page, provider, "nomail", "nomail-idp-pass")
    assert "Test IdP did not tell Tagsight your e-mail address" in _refused(page, tagsight)
    screenshot("sso-refused-no-email")
    assert page.get_by_role("link", name="Sign in with Test IdP").is_visible()
    assert _users(tagsight) == before


def test_a_wrong_client_secret_lands_on_the_login_page_with_a_message(servers, page, screenshot):  # type: ignore[no-untyped-def]
    """The provider's secret was rotated and Tagsight still sends the old one: the token request is refused."""
    provider, tagsight = servers
    with sqlite3.connect(provider.database) as db:
        (old,) = db.execute("SELECT client_secret FROM oauth2_provider_application WHERE client_id = ?",
                            (CLIENT_ID,)).fetchone()
        db.execute("UPDATE oauth2_provider_application SET client_secret = ? WHERE client_id = ?",
                   (MD5PasswordHasher().encode("rotated-at-the-provider", "salt"), CLIENT_ID))
    try:
        before = _users(tagsight)
        _start_sso(page, tagsight)
        _provider_sign_in(page, provider, "pat", "pat-idp-pass")
        message = _refused(page, tagsight)
        screenshot("sso-refused-secret")
        assert "Test IdP refused Tagsight's sign-in request" in message
        assert "client ID and secret" in message
        assert _users(tagsight) == before
        assert page.get_by_role("button", name="Sign out").count() == 0, "not signed in"
    finally:
        with sqlite3.connect(provider.database) as db:
            db.execute("UPDATE oauth2_provider_application SET client_secret = ? WHERE client_id = ?", (old, CLIENT_ID))


def test_a_forged_or_cancelled_callback_lands_on_the_login_page_with_a_message(servers, page):  # type: ignore[no-untyped-def]
    """A callback whose state this browser never started (a forged link, an expired sign-in) and a provider's error
    answer both end on the login page with a sentence, never a 500; the provider's own text is not shown."""
    provider, tagsight = servers
    _start_sso(page, tagsight)  # the session now holds one state, for the sign-in at the provider
    page.wait_for_url(re.compile(re.escape(provider.url) + r"/login/"))
    page.goto(f"{tagsight.url}/oidc/callback/?code=stolen-code&state=forged-state")
    assert "Sign-in with Test IdP could not be verified" in _refused(page, tagsight)

    page.goto(f"{tagsight.url}/oidc/callback/?error=access_denied&error_description=Call+0800+to+unlock+your+account")
    message = _refused(page, tagsight)
    assert message == "Test IdP did not sign you in: you cancelled, or your account there may not use Tagsight."
    assert page.get_by_role("button", name="Sign out").count() == 0
