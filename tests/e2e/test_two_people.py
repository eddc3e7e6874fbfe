"""Two people in one workspace label the same project at once (issue #12): an Owner and a Labeler, each in a
browser context of their own, draw boxes on the same image and then on different images; both boxes are saved
and each sees the other's. The Labeler's browser cannot train, and a Viewer's cannot draw (403 from the server,
whatever the page shows).
"""

from __future__ import annotations

import re

import pytest

from labeling.models import Region
from projects.services import project_create, tag_create
from tests.e2e.test_labeling import QUICKSTART, drag, photo, saved, upload
from workspaces.services import member_add, workspace_create

sync_api = pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROLE_REFUSED = "Your role in this workspace does not allow this"

# POST from inside the page as htmx does (the CSRF token from <body hx-headers>), so a 403 is the server's answer
# to the person, not to a missing token.
POST = """async ([url, form]) => {
    const headers = JSON.parse(document.body.getAttribute("hx-headers"));
    const response = await fetch(url, {method: "POST", headers, body: new URLSearchParams(form)});
    return [response.status, await response.text()];
}"""


def open_labeler(page, base: str, image) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base}/images/{image.id}/label/")
    sync_api.expect(page.locator("#labeler")).to_have_attribute("data-ready", "true")


def draw(page, start, end) -> None:  # type: ignore[no-untyped-def]
    if page.locator("#sticky-tag").inner_text() != "fork":  # "1" toggles the sticky tag (remembered per browser)
        page.keyboard.press("1")
    sync_api.expect(page.locator("#sticky-tag")).to_have_text("fork")
    drag(page, start, end)
    saved(page)


def boxes_on(image) -> list[tuple[float, float]]:  # type: ignore[no-untyped-def]
    return sorted((round(r.left, 1), round(r.top, 1)) for r in Region.objects.filter(image=image))


def shown_boxes(page) -> list[tuple[float, float]]:  # type: ignore[no-untyped-def]
    """(left, top) of every box on the page, from its style in % of the image, as fractions."""
    found = []
    for style in page.locator(".box").evaluate_all("boxes => boxes.map(b => b.getAttribute('style'))"):
        left, top = (float(re.search(rf"{k}: ([\d.]+)%", style).group(1)) / 100 for k in ("left", "top"))
        found.append((round(left, 1), round(top, 1)))
    return sorted(found)


def test_an_owner_and_a_labeler_label_the_same_project_at_once(  # type: ignore[no-untyped-def]
    page, more_pages, login_as, live_server, owner, django_user_model, screenshot
):
    base = live_server.url
    labeler_user = django_user_model.objects.create_user(username="lee")
    viewer_user = django_user_model.objects.create_user(username="vic")
    team = workspace_create(name="Kitchen team", owner=owner)
    member_add(workspace=team, user=labeler_user, role="labeler")
    member_add(workspace=team, user=viewer_user, role="viewer")
    project = project_create(created_by=owner, workspace=team, name="Cutlery", project_type="detection")
    tag_create(project=project, name="fork")
    first, second, third = (
        upload(project, photo(QUICKSTART / f"detection/fork/fork_{n}.jpg", (60 * n, 90, 200))) for n in (1, 2, 3))

    owner_page = login_as(owner)
    labeler_page = login_as(labeler_user, on=more_pages())

    # Both open the same image, then each draws a box: neither overwrites the other.
    open_labeler(owner_page, base, first)
    open_labeler(labeler_page, base, first)
    draw(owner_page, (0.1, 0.1), (0.3, 0.3))
    draw(labeler_page, (0.6, 0.5), (0.9, 0.8))
    assert boxes_on(first) == [(0.1, 0.1), (0.6, 0.5)]
    for who in (owner_page, labeler_page):
        who.reload()
        sync_api.expect(who.locator("#labeler")).to_have_attribute("data-ready", "true")
        sync_api.expect(who.locator(".box")).to_have_count(2)
        assert shown_boxes(who) == [(0.1, 0.1), (0.6, 0.5)]
    screenshot("two-people-owner-same-image")
    screenshot("two-people-labeler-same-image", on=labeler_page)

    # Then different images at the same time; each finds the other's box on moving to that image.
    open_labeler(owner_page, base, second)
    open_labeler(labeler_page, base, third)
    draw(owner_page, (0.2, 0.2), (0.5, 0.5))
    draw(labeler_page, (0.4, 0.1), (0.7, 0.4))
    assert boxes_on(second) == [(0.2, 0.2)] and boxes_on(third) == [(0.4, 0.1)]
    open_labeler(owner_page, base, third)
    sync_api.expect(owner_page.locator(".box")).to_have_count(1)
    assert shown_boxes(owner_page) == [(0.4, 0.1)]
    open_labeler(labeler_page, base, second)
    sync_api.expect(labeler_page.locator(".box")).to_have_count(1)
    assert shown_boxes(labeler_page) == [(0.2, 0.2)]
    screenshot("two-people-owner-sees-labelers-box")
    screenshot("two-people-labeler-sees-owners-box", on=labeler_page)

    # The Labeler's browser posting to the train URL is refused by the server (and nothing is queued); the same
    # kind of request to a box works, so the refusal is about the role, not the request.
    status, text = labeler_page.evaluate(POST, [f"{base}/projects/{project.id}/train", {}])
    assert status == 403 and ROLE_REFUSED in text
    assert not project.iterations.exists()
    box = {"tag": str(project.tags.get().id), "left": "0.05", "top": "0.6", "width": "0.2", "height": "0.2"}
    status, _ = labeler_page.evaluate(POST, [f"{base}/images/{second.id}/label/regions/create", box])
    assert status == 201 and len(boxes_on(second)) == 2

    # A Viewer sees the boxes but cannot add one.
    viewer_page = login_as(viewer_user, on=more_pages())
    open_labeler(viewer_page, base, first)
    sync_api.expect(viewer_page.locator(".box")).to_have_count(2)
    status, text = viewer_page.evaluate(POST, [f"{base}/images/{first.id}/label/regions/create", box])
    assert status == 403 and ROLE_REFUSED in text
    assert boxes_on(first) == [(0.1, 0.1), (0.6, 0.5)]
    screenshot("two-people-viewer", on=viewer_page)
