"""Every route that names an object is generated from the URL table and tried by a stranger: always 404.

A new route is covered without anyone remembering to add it: its id parameters are filled from OBJECTS by
name (a parameter with no entry fails this test, asking for one). Portal pages are tried signed in as the
stranger (plain and htmx requests, GET and POST); Azure routes with the stranger's own keys. Nothing of the
owner's may change. Signed out, every portal page (but the PUBLIC ones) sends the visitor to sign in.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.utils import timezone

from tests.factories import make_image_bytes, make_project, make_tag

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}
ID_PARAMS = {"workspace_id", "project_id", "image_id", "tag_id", "iteration_id", "region_id", "prediction_id",
             "export_id"}
FIXED = {"kind": "original", "which": "training", "task": "classify", "publish_name": "live", "token": "x"}
NO_ID = {"domain_id"}  # domains are global (same for everyone)
# Route names anyone may open signed out (an invitation's link and sign-up are for people with no account yet).
PUBLIC = {"login", "logout", "password_reset", "password_reset_done", "password_reset_confirm",
          "password_reset_complete", "healthz", "favicon", "invitation", "signup"}


def _routes(patterns: list[Any], prefix: str = "") -> Iterator[tuple[str, str, Any]]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _routes(entry.url_patterns, prefix + str(entry.pattern.regex.pattern).lstrip("^"))
        elif isinstance(entry, URLPattern):
            yield prefix, str(entry.pattern.regex.pattern).lstrip("^"), entry


def _fill(regex: str, values: dict[str, str], *, needs_id: bool = True) -> str | None:
    """A concrete path for a route regex, or None when it names no object (and ``needs_id``)."""
    names = re.findall(r"\(\?P<(\w+)>", regex)
    if needs_id and not ID_PARAMS & set(names):
        return None
    missing = [n for n in names if n not in values and n not in FIXED and n not in NO_ID]
    assert not missing, f"route {regex!r}: add a value for {missing} to tests/test_strangers.py"

    def group(m: re.Match[str]) -> str:
        return str(values.get(m.group(1)) or FIXED.get(m.group(1), "x"))

    path = regex
    # replace each named group (with its own nested brackets) by its value
    out, i = [], 0
    while i < len(path):
        m = re.compile(r"\(\?P<(\w+)>").match(path, i)
        if m:
            depth, j = 1, m.end()
            while depth:
                depth += {"(": 1, ")": -1}.get(path[j], 0) if path[j - 1] != "\\" else 0
                j += 1
            out.append(group(m))
            i = j
        else:
            out.append(path[i])
            i += 1
    text = "".join(out).removesuffix("\\Z").rstrip("$").replace("\\", "")  # path() ends in \Z, re_path() in $
    text = re.sub(r"\(\?:([^|)]*)[^)]*\)", r"\1", text)  # alternatives: the first one
    text = text.replace("[0-3]", "4-preview" if "training" in text else "1").replace("4-preview|4-preview", "4-preview")
    text = re.sub(r"\[(.)[^]]*\]", r"\1", text)  # other character classes ([01]): their first character
    return "/" + text


def _path(prefix: str, regex: str, entry: URLPattern, owned: dict[str, Any], *, needs_id: bool = True) -> str | None:
    """``_fill`` with the owner's ids; the path must reach the route's own view (not a 404 from the resolver)."""
    path = _fill(prefix + regex, {k: str(v) for k, v in owned.items()}, needs_id=needs_id)
    if path is not None:
        assert resolve(path).func == entry.callback, f"{path} does not reach {entry.name or regex}: fix _fill"
    return path


@pytest.fixture
def owned(owner, tmp_path):  # type: ignore[no-untyped-def]
    from labeling.services import region_create
    from predictions.models import Export, StoredPrediction
    from projects.services import image_upload
    from training.models import Iteration
    from training.services import iteration_publish

    project = make_project(owner, name="Owner's", project_type="detection",
                           domain_id="da2e3a8a-40a5-4171-82f4-58522f70fbc1")
    tag = make_tag(project, "fork")
    image = image_upload(project=project, data=make_image_bytes(color=(10, 200, 30))).image
    region = region_create(image=image, tag=tag, left=0.1, top=0.1, width=0.5, height=0.5)
    now = timezone.now()
    iteration = Iteration.objects.create(project=project, number=1, name="Iteration 1", status="Completed",
                                         domain_id=project.domain_id, project_type="detection",
                                         started=now, finished=now, task_id=str(uuid.uuid4()))
    iteration_publish(iteration=iteration, publish_name="live")
    prediction = StoredPrediction.objects.create(project=project, iteration=iteration, file="x.jpg")
    export = Export.objects.create(iteration=iteration, status="Done", file="x.zip")
    return {"workspace_id": project.workspace_id, "project_id": project.id, "image_id": image.id, "tag_id": tag.id,
            "iteration_id": iteration.id, "region_id": region.id, "prediction_id": prediction.id,
            "export_id": export.id}


def _post_data(owned: dict[str, Any]) -> dict[str, Any]:
    """A POST body every portal form would act on: delete, retag, rename, a box — all aimed at the owner's rows."""
    return {"name": "x", "tag": str(owned["tag_id"]), "tag_id": str(owned["tag_id"]), "on": "1",
            "action": "delete", "image_ids": [str(owned["image_id"])], "ids": [str(owned["prediction_id"])],
            "left": "0.2", "top": "0.2", "width": "0.3", "height": "0.3", "sample": "static:hemlock-test.jpg"}


def _snapshot() -> list[Any]:
    from labeling.models import Region
    from predictions.models import Export, StoredPrediction
    from projects.models import Image, Project, Tag
    from training.models import Iteration
    from workspaces.models import Membership, WorkspaceKey

    return [sorted(map(str, m.objects.values_list(*fields))) for m, fields in (
        (Project, ("id", "name", "modified")), (Tag, ("id", "name")), (Image, ("id", "metadata")),
        (Image.tags.through, ("image_id", "tag_id")), (Region, ("id", "left", "tag_id")),
        (Iteration, ("id", "name", "status", "publish_name")), (StoredPrediction, ("id",)), (Export, ("id", "status")),
        (Membership, ("workspace_id", "user_id", "role")), (WorkspaceKey, ("key",)))]


def test_a_stranger_gets_404_on_every_portal_route_with_an_id(stranger_client, owned) -> None:  # type: ignore[no-untyped-def]
    before = _snapshot()
    tried = 0
    for prefix, regex, entry in _routes(get_resolver().url_patterns):
        if prefix.startswith("customvision") or prefix.startswith("admin"):
            continue
        path = _path(prefix, regex, entry, owned)
        if path is None:
            continue
        for method in ("get", "post"):
            for headers in ({}, HX):
                response = getattr(stranger_client, method)(path, _post_data(owned), **headers)
                assert response.status_code in (404, 405), (method, path, response.status_code)
                tried += 1
    assert tried >= 60
    assert _snapshot() == before


def test_signed_out_every_portal_page_sends_the_visitor_to_sign_in(client, owned) -> None:  # type: ignore[no-untyped-def]
    before = _snapshot()
    tried = 0
    for prefix, regex, entry in _routes(get_resolver().url_patterns):
        if (prefix + regex).startswith(("customvision", "admin")) or entry.name in PUBLIC:
            continue
        path = _path(prefix, regex, entry, owned, needs_id=False)
        for method in ("get", "post"):
            response = getattr(client, method)(path, _post_data(owned))
            if response.status_code != 405:
                assert response.status_code == 302, (method, path, response.status_code)
                assert response["Location"].startswith("/accounts/login/?next="), (method, path, response["Location"])
            tried += 1
    assert tried >= 80
    assert _snapshot() == before


def test_a_strangers_keys_get_404_on_every_azure_route_with_an_id(stranger, owned) -> None:  # type: ignore[no-untyped-def]
    from django.test import Client

    from workspaces.services import personal_keys

    keys = personal_keys(user=stranger)
    headers = {"HTTP_TRAINING_KEY": keys.training_key, "HTTP_PREDICTION_KEY": keys.prediction_key}
    client = Client()
    before = _snapshot()
    tried = 0
    for prefix, regex, entry in _routes(get_resolver().url_patterns):
        if not prefix.startswith("customvision/v3"):
            continue
        path = _path(prefix, regex, entry, owned)
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
    assert _snapshot() == before
