"""Browser: the pages no other browser test opens, each checked by axe-core (the ``page`` fixture fails the test on
serious or critical WCAG 2.1 A/AA findings), plus the labeler with a box of every tag colour."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import axe_check
from tests.factories import make_image_bytes, make_project, make_tag
from tests.training.builders import add_image, completed_iteration, tagged_project

sync_api = pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_remaining_pages_pass_axe(page, live_server, owner, login_as, screenshot):  # type: ignore[no-untyped-def]
    project = tagged_project(owner, per_tag=5, name="Trees")
    iteration = completed_iteration(project, owner=owner, publish_name="treesModel")
    image = project.images.first()
    tag = project.tags.first()
    login_as(owner)
    base = live_server.url
    missing: list[str] = []  # e.g. /favicon.ico, which the browser asks for on every page without an icon link
    page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
    for path in (
        "/account/",
        f"/projects/{project.id}/iterations/",
        f"/iterations/{iteration.id}/",
        f"/iterations/{iteration.id}/errors",
        f"/iterations/{iteration.id}/delete",
        f"/images/{image.id}/",
        f"/images/{image.id}/label/",
        f"/projects/{project.id}/tags/{tag.id}/edit",
        f"/projects/{project.id}/predictions/",
    ):
        response = page.goto(base + path)
        assert response.status == 200, path
        axe_check(page)  # now, before the next goto leaves the page
    screenshot("a11y-tag-edit")
    page.goto(f"{base}/iterations/{iteration.id}/")
    screenshot("a11y-iteration")
    assert not missing, missing

    # A wrong link lands on a page of ours (top bar, a way home), not Django's bare "Not Found".
    assert page.goto(f"{base}/projects/{project.id}/nothing-here").status == 404
    sync_api.expect(page.locator("h1")).to_have_text("Page not found")
    screenshot("a11y-404")
    page.click("text=Back to your projects")
    page.wait_for_url(f"{base}/")

    # Leave the signed-in page first: a request of it still loading after the cookies are cleared (a project card's
    # thumbnail) is sent to the login page, whose answer sets a CSRF cookie of its own, so the login form's token
    # would no longer match (CI saw that 403 once).
    page.goto("about:blank")
    page.context.clear_cookies()
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=username]", "owner")
    page.fill("input[name=password]", "wrong")
    page.click("button[type=submit]")
    sync_api.expect(page.locator(".error")).to_contain_text("didn't match")


def test_box_labels_of_every_tag_colour_are_readable(page, live_server, owner, login_as):  # type: ignore[no-untyped-def]
    from labeling.services import region_create

    project = make_project(owner, name="Colours", project_type="detection")
    image = add_image(project, data=make_image_bytes(size=(800, 600), color=(240, 240, 240)))
    for n in range(10):  # the whole palette; labels sit on the tag's colour
        region_create(image=image, tag=make_tag(project, f"tag {n + 1}"), left=0.02 + n * 0.095, top=0.3,
                      width=0.08, height=0.3)
    login_as(owner)
    page.goto(f"{live_server.url}/images/{image.id}/label/")
    sync_api.expect(page.locator("#labeler")).to_have_attribute("data-ready", "true")
    sync_api.expect(page.locator(".box")).to_have_count(10)
