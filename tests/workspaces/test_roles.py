"""Every portal route x every role, generated from the URL table: allowed, 403 for the role, 404 for a stranger.

Each route declares what it needs (``@access(Need.X, post=Need.Y)``, kept on the view as ``view.access``); a
route without a declaration fails here, so a new page cannot be forgotten. The four roles are members of one
team workspace whose detection project holds one of everything a URL can name; each GETs and POSTs every route
(plain and htmx): a role whose grants include the declared need gets through, any other member gets 403, a
non-member 404. Refused requests change nothing. Allowed requests run in a savepoint that is rolled back, so a
deleted project does not hide the routes after it.

The declarations could be wrong and the generated test would still agree with them, so the rules issue #12
names are written out once more by hand in RULES (a Labeler cannot train, publish, export, quick test, delete
the project or see keys; a Viewer changes nothing; a Trainer sees prediction keys only; only Owners regenerate).
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction
from django.test import Client
from django.urls import resolve, reverse

from tests.routes import HX, PUBLIC, is_portal, make_owned, path_for, post_data, routes, snapshot
from workspaces.access import GRANTS, SESSION_KEY, Need
from workspaces.models import WorkspaceKey
from workspaces.services import keys_of, member_add, workspace_create

pytestmark = pytest.mark.django_db

ROLES = ("owner", "trainer", "labeler", "viewer")
REFUSED = (403, 404)


@pytest.fixture
def team(owner, django_user_model):  # type: ignore[no-untyped-def]
    """The team workspace ("Kitchen team"), its project and a signed-in client per role, switched to the team."""
    workspace = workspace_create(name="Kitchen team", owner=owner)
    users = {"owner": owner}
    for role in ROLES[1:]:
        users[role] = django_user_model.objects.create_user(username=role)  # no password: no hashing, force_login
        member_add(workspace=workspace, user=users[role], role=role)
    owned = make_owned(owner, workspace=workspace)
    _files(owned)
    clients = {}
    for role, user in users.items():
        client = Client()
        client.force_login(user)
        session = client.session
        session[SESSION_KEY] = str(workspace.id)  # pages without an id (new project) act on the current workspace
        session.save()
        clients[role] = client
    return workspace, owned, clients


def _files(owned: dict[str, Any]) -> None:
    """The stored prediction's image and the export's archive exist, so that downloading them can succeed."""
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from predictions.models import Export, StoredPrediction
    from tests.factories import make_image_bytes

    StoredPrediction.objects.filter(id=owned["prediction_id"]).update(
        file=default_storage.save("p.png", ContentFile(make_image_bytes())), content_type="image/png")
    Export.objects.filter(id=owned["export_id"]).update(
        file=default_storage.save("e.zip", ContentFile(b"PK\x05\x06" + b"\0" * 18)))


def _attempt(client: Client, method: str, path: str, body: dict[str, Any], headers: dict[str, str]) -> tuple[int, bool]:
    """(status, whether a refused request changed any row); the request's changes are rolled back either way,
    so every request starts from the same rows."""
    with transaction.atomic():
        before = snapshot()
        response = getattr(client, method)(path, body, **headers) if method == "post" else client.get(path, **headers)
        changed = response.status_code in (*REFUSED, 405) and snapshot() != before
        transaction.set_rollback(True)
    return response.status_code, changed


def _portal_routes(owned: dict[str, Any]) -> list[tuple[str, Any]]:
    """(path, view) of every portal route but the PUBLIC ones."""
    found = []
    for prefix, regex, entry in routes():
        if not is_portal(prefix, regex) or entry.name in PUBLIC:
            continue
        path = path_for(prefix, regex, entry, owned, needs_id=False)
        if path is not None:
            found.append((path, entry.callback))
    return found


def test_every_portal_route_declares_what_it_needs(team) -> None:  # type: ignore[no-untyped-def]
    _, owned, _ = team
    undeclared = [path for path, view in _portal_routes(owned) if not hasattr(view, "access")]
    assert not undeclared, f"routes without @access(Need...): {undeclared}"
    assert len(_portal_routes(owned)) >= 45


def test_every_route_for_every_role_follows_its_declaration(team, stranger_client) -> None:  # type: ignore[no-untyped-def]
    _, owned, clients = team
    body = post_data(owned)
    wrong: list[tuple[Any, ...]] = []  # every disagreement at once, not just the first
    tried = 0
    for path, view in _portal_routes(owned):
        declared = dict(zip(("get", "post"), view.access, strict=True))
        for method in ("get", "post"):
            need = declared[method]
            for headers in ({}, HX):
                seen: dict[str, int] = {}
                for role in ROLES:
                    status, changed = _attempt(clients[role], method, path, body, headers)
                    seen[role] = status
                    allowed = need is Need.ACCOUNT or need in GRANTS[role]
                    if status == 405:  # the method itself is not allowed: the same answer for everyone (below)
                        continue
                    tried += 1
                    if allowed and (status in REFUSED or status >= 500):
                        wrong.append((role, method, path, headers, f"needs {need}, allowed, got {status}"))
                    elif not allowed and (status != 403 or changed):
                        wrong.append((role, method, path, headers, f"needs {need}, refused, got {status} {changed=}"))
                if len({s == 405 for s in seen.values()}) != 1:
                    wrong.append(("all", method, path, headers, f"405 for some roles only: {seen}"))
                if _names_an_object(path, owned):
                    status, changed = _attempt(stranger_client, method, path, body, headers)
                    if status not in (404, 405) or changed:
                        wrong.append(("stranger", method, path, headers, f"got {status} {changed=}"))
    assert not wrong, "\n".join(map(str, wrong))
    assert tried >= 400


def _names_an_object(path: str, owned: dict[str, Any]) -> bool:
    """Whether the path names one of the team's objects (a stranger gets 404 there; elsewhere their own pages)."""
    return any(str(v) in path for v in owned.values())


# ------------------------------------------------------------------------------------- the rules, by hand

OWNER, TRAINER, LABELER, VIEWER = ROLES
TRAINERS = {OWNER, TRAINER}
LABELERS = {OWNER, TRAINER, LABELER}

# (route name, URL kwargs, method, body changes) -> the roles that get through; everyone else gets 403.
RULES: list[tuple[str, tuple[str, ...], str, dict[str, Any], set[str]]] = [
    # A Labeler uploads, tags and draws boxes...
    ("projects:image-upload", ("project_id",), "post", {}, LABELERS),
    ("projects:images-action", ("project_id",), "post", {"action": "tag"}, LABELERS),
    ("projects:tag-create", ("project_id",), "post", {"name": "knife"}, LABELERS),
    ("labeling:region-create", ("image_id",), "post", {}, LABELERS),
    ("labeling:region-update", ("region_id",), "post", {}, LABELERS),
    ("labeling:region-delete", ("region_id",), "post", {}, LABELERS),
    # ...and nothing else: no training, publishing, exporting, quick test, deleting, keys.
    ("training:train", ("project_id",), "get", {}, TRAINERS),
    ("training:train", ("project_id",), "post", {}, TRAINERS),
    ("training:iteration-cancel", ("iteration_id",), "post", {}, TRAINERS),
    ("training:iteration-publish", ("iteration_id",), "post", {"name": "other"}, TRAINERS),
    ("training:iteration-unpublish", ("iteration_id",), "post", {}, TRAINERS),
    ("training:iteration-delete", ("iteration_id",), "post", {}, TRAINERS),
    ("predictions:iteration-export", ("iteration_id",), "post", {}, TRAINERS),
    ("predictions:export-download", ("export_id",), "get", {}, TRAINERS),
    ("predictions:quick-test", ("project_id",), "get", {}, TRAINERS),
    ("predictions:quick-test", ("project_id",), "post", {}, TRAINERS),
    ("projects:images-action", ("project_id",), "post", {"action": "delete"}, TRAINERS),
    ("projects:tag-delete", ("project_id", "tag_id"), "post", {}, TRAINERS),
    ("projects:project-edit", ("project_id",), "post", {}, TRAINERS),
    ("projects:project-create", (), "post", {"name": "New one"}, TRAINERS),
    ("projects:project-delete", ("project_id",), "get", {}, {OWNER}),
    ("projects:project-delete", ("project_id",), "post", {}, {OWNER}),
    ("workspaces:keys", ("workspace_id",), "get", {}, TRAINERS),
    ("workspaces:keys", ("workspace_id",), "post", {"kind": "prediction", "slot": "1"}, {OWNER}),
    ("workspaces:keys", ("workspace_id",), "post", {"kind": "training", "slot": "2"}, {OWNER}),
    # Webhooks carry credentials (their URLs, their secrets): Owners only, even to read.
    ("notifications:workspace-webhooks", ("workspace_id",), "get", {}, {OWNER}),
    ("notifications:workspace-webhooks", ("workspace_id",), "post", {"url": "https://a.example.com/h"}, {OWNER}),
    ("notifications:project-webhooks", ("project_id",), "get", {}, {OWNER}),
    ("notifications:webhook-detail", ("webhook_id",), "get", {}, {OWNER}),
    ("notifications:webhook-test", ("webhook_id",), "post", {}, {OWNER}),
    ("notifications:webhook-delete", ("webhook_id",), "post", {}, {OWNER}),
    # Everyone in the workspace reads.
    ("projects:project-detail", ("project_id",), "get", {}, set(ROLES)),
    ("labeling:labeler", ("image_id",), "get", {}, set(ROLES)),
    ("training:iteration-detail", ("iteration_id",), "get", {}, set(ROLES)),
    ("predictions:prediction-list", ("project_id",), "get", {}, set(ROLES)),
]


def test_the_rules_of_issue_12(team) -> None:  # type: ignore[no-untyped-def]
    _, owned, clients = team
    wrong = []
    for name, kwargs, method, change, allowed in RULES:
        path = reverse(name, kwargs={k: owned[k] for k in kwargs})
        body = {**post_data(owned), **change}
        for role in ROLES:
            status, changed = _attempt(clients[role], method, path, body, {})
            if role in allowed and (status in REFUSED or status >= 500):
                wrong.append((role, method, name, change, f"should get through, got {status}"))
            elif role not in allowed and (status != 403 or changed):
                wrong.append((role, method, name, change, f"should get 403, got {status} {changed=}"))
    assert not wrong, "\n".join(map(str, wrong))


def test_a_viewer_changes_nothing_every_post_is_403(team) -> None:  # type: ignore[no-untyped-def]
    _, owned, clients = team
    # Switching the top bar to a workspace changes only which workspace the viewer looks at (their session);
    # a password change, a new workspace of their own, leaving this one or their e-mail choice is about the viewer.
    own_business = {"workspaces:switch", "password_change", "password_change_done", "workspaces:create",
                    "workspaces:leave", "notifications:preferences"}
    refused = 0
    for prefix, regex, entry in routes():
        if not is_portal(prefix, regex) or entry.name in PUBLIC:
            continue
        path = path_for(prefix, regex, entry, owned, needs_id=False)
        if path is None:
            continue
        name = resolve(path).view_name
        for headers in ({}, HX):
            status, changed = _attempt(clients[VIEWER], "post", path, post_data(owned, action="delete"), headers)
            assert not changed, (path, "a viewer's POST changed data")
            if status != 405 and name not in own_business:
                assert status == 403, (path, status)
                refused += 1
    assert refused >= 50


def test_keys_page_trainers_see_prediction_keys_owners_all_and_only_owners_regenerate(team) -> None:  # type: ignore[no-untyped-def]
    workspace, _, clients = team
    keys = keys_of(workspace=workspace)
    path = reverse("workspaces:keys", kwargs={"workspace_id": workspace.id})

    page = clients[OWNER].get(path).content.decode()
    assert all(keys[k] in page for k in ("training1", "training2", "prediction1", "prediction2"))
    page = clients[TRAINER].get(path).content.decode()
    assert keys["prediction1"] in page and keys["prediction2"] in page
    assert keys["training1"] not in page and keys["training2"] not in page
    for role in (LABELER, VIEWER):
        response = clients[role].get(path)
        assert response.status_code == 403
        assert not any(key in response.content.decode() for key in keys.values())

    for role in (TRAINER, LABELER, VIEWER):
        for kind, slot in (("prediction", "1"), ("training", "1")):
            assert clients[role].post(path, {"kind": kind, "slot": slot}).status_code == 403
    assert keys_of(workspace=workspace) == keys

    response = clients[OWNER].post(path, {"kind": "training", "slot": "1"})
    assert response.status_code == 302
    after = keys_of(workspace=workspace)
    assert after["training1"] != keys["training1"]
    assert {k: v for k, v in after.items() if k != "training1"} == {k: v for k, v in keys.items() if k != "training1"}
    assert WorkspaceKey.objects.filter(key=keys["training1"]).count() == 0


def test_the_members_page_links_what_each_role_may_open(team) -> None:  # type: ignore[no-untyped-def]
    workspace, _, clients = team
    links = {"Keys": reverse("workspaces:keys", args=[workspace.id]),
             "Audit log": reverse("workspaces:audit", args=[workspace.id]),
             "Webhooks": reverse("notifications:workspace-webhooks", args=[workspace.id])}
    expected = {OWNER: {"Keys", "Audit log", "Webhooks"}, TRAINER: {"Keys"}, LABELER: set(), VIEWER: set()}
    for role, shown in expected.items():
        page = clients[role].get(reverse("workspaces:members", args=[workspace.id])).content.decode()
        assert {name for name, url in links.items() if f'href="{url}">{name}</a>' in page} == shown, role
