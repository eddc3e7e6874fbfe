"""Browser: a tag name over the 200-character limit is refused with a message (never cut silently), and the
longest allowed name stays inside its chip, button or card."""

from __future__ import annotations

import pytest

from projects.models import Tag
from projects.services import tag_create
from tests.factories import make_project
from tests.training.builders import add_image

sync_api = pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Is every element matched by `selector` inside the box of its closest `container`? (1 px of rounding allowed)
INSIDE = """([selector, container]) => [...document.querySelectorAll(selector)].map((el) => {
  const box = el.getBoundingClientRect(), outer = el.closest(container).getBoundingClientRect();
  return box.width > 0 && box.left >= outer.left - 1 && box.right <= outer.right + 1;
})"""


def test_a_pasted_300_character_name_is_refused_with_a_message(page, live_server, owner, login_as):  # type: ignore[no-untyped-def]
    project = make_project(owner, name="Trees")
    login_as(owner)
    page.goto(f"{live_server.url}/projects/{project.id}/")
    field = page.locator(".tag-panel .tag-add input[name=name]")
    field.fill("Hemlock " * 37 + "tail")  # 300 characters, as a paste would bring them
    assert len(field.input_value()) == 300  # kept whole, so the user sees what is wrong
    message = page.locator(".tag-panel .field-limit")
    sync_api.expect(message).to_be_visible()
    sync_api.expect(message).to_have_text("Tag names can be at most 200 characters; this one has 300.")
    field.press("Enter")
    page.wait_for_timeout(300)  # the submit is refused by the browser; give a wrong answer time to show up
    assert not Tag.objects.exists()
    field.fill("Hemlock")
    sync_api.expect(message).to_be_hidden()
    field.press("Enter")
    page.wait_for_selector(".tag-row[data-tag-name=Hemlock]")

    # The upload page's picker posts from a button (htmx), not a form submit: refused the same way.
    page.goto(f"{live_server.url}/projects/{project.id}/upload")
    page.fill("[data-new-tag]", "y" * 201)
    page.click("[data-add-tag]")
    sync_api.expect(page.locator("#tag-picker .field-limit")).to_have_text(
        "Tag names can be at most 200 characters; this one has 201.")
    page.wait_for_timeout(300)
    assert list(Tag.objects.values_list("name", flat=True)) == ["Hemlock"]


def test_the_longest_names_stay_inside_their_chips_and_buttons(page, live_server, owner, login_as, screenshot):  # type: ignore[no-untyped-def]
    project = make_project(owner, name="Trees")
    long_word = tag_create(project=project, name="W" * 200)  # no space to break at
    long_words = tag_create(project=project, name=("Japanese cherry " * 13)[:200])
    add_image(project, tags=[long_word, long_words])
    image = project.images.get()
    login_as(owner)
    base = live_server.url
    for path, selector, container in (
        (f"/projects/{project.id}/upload", "#tag-picker .chip-check", ".upload-card"),
        (f"/images/{image.id}/", "#image-panel .chip", ".image-side"),
        (f"/images/{image.id}/label/", "#tag-buttons .tag-button", ".labeler-side"),
        (f"/projects/{project.id}/", ".tag-row", ".tag-panel"),
    ):
        page.goto(base + path)
        assert all(page.evaluate(INSIDE, [selector, container])), path
        assert page.evaluate("document.documentElement.scrollWidth <= innerWidth"), path  # no sideways scroll
        screenshot("long-tag-names-" + path.strip("/").replace("/", "-"))
