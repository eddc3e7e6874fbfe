"""Portal wiring: health endpoint, login required, API keys command and account page."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from workspaces.services import personal_keys

pytestmark = pytest.mark.django_db


def test_healthz_reports_database_storage_broker_and_worker(client):
    response = client.get("/healthz")
    body = response.json()
    assert response.status_code == 200
    assert body["database"]["ok"] is True
    assert body["storage"]["ok"] is True
    assert body["broker"]["ok"] is True
    assert body["worker"]["ok"] is False  # no worker runs in this test
    assert body["status"] == "degraded"


def test_pages_need_a_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_apikeys_command_creates_user_and_prints_keys(capsys, django_user_model):
    call_command("apikeys", "alice")
    out = capsys.readouterr().out
    keys = personal_keys(user=django_user_model.objects.get(username="alice"))
    assert out.splitlines() == [f"TRAINING_KEY={keys.training_key}", f"PREDICTION_KEY={keys.prediction_key}"]
    call_command("apikeys", "alice")  # idempotent: same keys printed again
    assert f"TRAINING_KEY={keys.training_key}" in capsys.readouterr().out


def test_keys_page_shows_and_regenerates_one_key(owner_client, owner):
    workspace = owner.personal_workspace
    page = owner_client.get(f"/workspaces/{workspace.id}/keys")
    assert page.status_code == 200
    old = personal_keys(user=owner)
    assert old.training_key in page.content.decode() and old.prediction_key in page.content.decode()
    response = owner_client.post(f"/workspaces/{workspace.id}/keys", {"kind": "training", "slot": "1"},
                                 HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    new = personal_keys(user=owner)
    assert new.training_key != old.training_key and new.training_key in response.content.decode()
    assert new.prediction_key == old.prediction_key  # only the one key changed
    assert "<html" not in response.content.decode()  # an htmx fragment, not the full page


def test_pages_state_the_upload_limits_from_settings(owner_client, owner, settings):
    from django.urls import reverse

    from tests.factories import make_project

    project = make_project(owner)
    upload = reverse("projects:image-upload", args=[project.id])
    quick_test = reverse("predictions:quick-test", args=[project.id])
    page = owner_client.get(upload).content.decode()
    assert "up to 6 MB each · sides up to 10,240 px" in page and 'data-max-bytes="6291456"' in page
    assert "up to 4 MB, sides up to 10,240 px" in owner_client.get(quick_test).content.decode()
    settings.TAGSIGHT_MAX_IMAGE_BYTES = 3 * 1024 * 1024 // 2
    settings.TAGSIGHT_MAX_IMAGE_SIDE = 4096
    settings.TAGSIGHT_MAX_PREDICTION_BYTES = 2 * 1024 * 1024
    page = owner_client.get(upload).content.decode()
    assert "up to 1.5 MB each · sides up to 4,096 px" in page and 'data-max-bytes="1572864"' in page
    assert "up to 2 MB, sides up to 4,096 px" in owner_client.get(quick_test).content.decode()


def test_a_missing_page_is_a_page_of_ours_with_a_way_home(owner_client):
    response = owner_client.get("/no/such/page/")
    body = response.content.decode()
    assert response.status_code == 404
    assert 'class="topbar"' in body and "Page not found" in body
    assert 'href="/"' in body and "Back to your projects" in body


def test_a_forbidden_page_is_a_page_of_ours_with_a_way_home(rf, owner):
    from django.core.exceptions import PermissionDenied
    from django.views.defaults import permission_denied

    request = rf.get("/somewhere/")
    request.user = owner
    response = permission_denied(request, PermissionDenied())
    body = response.content.decode()
    assert response.status_code == 403
    assert 'class="topbar"' in body and "role doesn't allow" in body and 'href="/"' in body


def test_the_server_error_page_needs_no_database_and_links_home(rf, django_db_blocker):
    from django.views.defaults import server_error

    with django_db_blocker.block():  # the database may be what failed: the page must not touch it
        response = server_error(rf.get("/boom/"))
    body = response.content.decode()
    assert response.status_code == 500
    assert 'class="topbar"' in body and "Something went wrong" in body and 'href="/"' in body


def test_favicon_ico_leads_to_the_svg_icon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert response["Location"].startswith("/static/") and response["Location"].endswith(".svg")
    assert client.get("/accounts/login/").content.decode().count('rel="icon"') == 1
