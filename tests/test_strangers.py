"""Every route that names an object is generated from the URL table and tried by a stranger: always 404.

A new route is covered without anyone remembering to add it: its id parameters are filled from the owner's
objects by name (tests/routes.py; a parameter with no value fails, asking for one). Portal pages are tried
signed in as the stranger (plain and htmx requests, GET and POST); Azure routes with the stranger's own keys.
Nothing of the owner's may change. Signed out, every portal page (but the PUBLIC ones) sends the visitor to sign in.
"""

from __future__ import annotations

import pytest

from tests.routes import HX, PUBLIC, is_portal, make_owned, path_for, post_data, routes, snapshot

pytestmark = pytest.mark.django_db


@pytest.fixture
def owned(owner):  # type: ignore[no-untyped-def]
    return make_owned(owner)


def test_a_stranger_gets_404_on_every_portal_route_with_an_id(stranger_client, owned) -> None:  # type: ignore[no-untyped-def]
    before = snapshot()
    tried = 0
    for prefix, regex, entry in routes():
        if not is_portal(prefix, regex):
            continue
        path = path_for(prefix, regex, entry, owned)
        if path is None:
            continue
        for method in ("get", "post"):
            for headers in ({}, HX):
                response = getattr(stranger_client, method)(path, post_data(owned, action="delete"), **headers)
                assert response.status_code in (404, 405), (method, path, response.status_code)
                tried += 1
    assert tried >= 60
    assert snapshot() == before


def test_signed_out_every_portal_page_sends_the_visitor_to_sign_in(client, owned) -> None:  # type: ignore[no-untyped-def]
    before = snapshot()
    tried = 0
    for prefix, regex, entry in routes():
        if not is_portal(prefix, regex) or entry.name in PUBLIC:
            continue
        path = path_for(prefix, regex, entry, owned, needs_id=False)
        if path is None:
            continue
        for method in ("get", "post"):
            response = getattr(client, method)(path, post_data(owned, action="delete"))
            if response.status_code != 405:
                assert response.status_code == 302, (method, path, response.status_code)
                assert response["Location"].startswith("/accounts/login/?next="), (method, path, response["Location"])
            tried += 1
    assert tried >= 80
    assert snapshot() == before


def test_a_strangers_keys_get_404_on_every_azure_route_with_an_id(stranger, owned) -> None:  # type: ignore[no-untyped-def]
    from django.test import Client

    from workspaces.services import personal_keys

    keys = personal_keys(user=stranger)
    headers = {"HTTP_TRAINING_KEY": keys.training_key, "HTTP_PREDICTION_KEY": keys.prediction_key}
    client = Client()
    before = snapshot()
    tried = 0
    for prefix, regex, entry in routes():
        if not prefix.startswith("customvision/v3"):
            continue
        path = path_for(prefix, regex, entry, owned)
        if path is None:
            continue
        for method in ("get", "post", "patch", "delete"):
            body = {} if method == "get" else {"data": b"{}", "content_type": "application/json"}
            response = getattr(client, method)(path, **body, **headers)
            assert response.status_code in (404, 405), (method, path, response.status_code, response.content[:200])
            if response.status_code == 404:
                assert response.json()["code"].startswith("NotFound"), (method, path, response.json())
            tried += 1
    assert tried >= 100
    assert snapshot() == before
