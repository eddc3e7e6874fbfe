"""Browser: the iteration page of a Completed iteration (metrics stored, no training run): the threshold slider,
Publish, and the Prediction URL snippets."""

from __future__ import annotations

import pytest

from tests.training.builders import completed_iteration, tagged_project

sync_api = pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def iteration(owner):  # type: ignore[no-untyped-def]
    return completed_iteration(tagged_project(owner, per_tag=5, name="Trees"), owner=owner)


def test_the_threshold_slider_keeps_the_console_clean(page, live_server, owner, login_as, iteration):  # type: ignore[no-untyped-def]
    console: list[str] = []
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
    login_as(owner)
    page.goto(f"{live_server.url}/iterations/{iteration.id}/")
    page.focus("#threshold")
    for _ in range(12):  # held arrow key: a request per step while the previous ones are still under way
        page.keyboard.press("ArrowLeft", delay=5)
    sync_api.expect(page.locator("#performance-results")).to_have_attribute("data-threshold", "0.38")
    page.wait_for_load_state("networkidle")
    assert page.input_value("#threshold") == "0.38"
    assert not console, console


def _overlap(a, b) -> bool:  # type: ignore[no-untyped-def]
    return not (a["x"] + a["width"] <= b["x"] or b["x"] + b["width"] <= a["x"]
                or a["y"] + a["height"] <= b["y"] or b["y"] + b["height"] <= a["y"])


def test_publish_is_a_visible_primary_button_and_its_toast_leaves_the_buttons_clear(  # type: ignore[no-untyped-def]
        page, live_server, owner, login_as, iteration, screenshot):
    login_as(owner)
    page.goto(f"{live_server.url}/iterations/{iteration.id}/")
    publish = page.get_by_test_id("publish")
    sync_api.expect(publish).to_be_visible()  # not inside the closed "Manage" menu
    sync_api.expect(publish).to_have_class("button primary")
    publish.click()
    sync_api.expect(page.locator("#publish-name")).to_have_value("Iteration1")  # Custom Vision's default
    screenshot("iteration-publish")
    page.get_by_test_id("publish-confirm").click()
    toast = page.locator("#messages .message")
    sync_api.expect(toast).to_contain_text("published as 'Iteration1'")
    iteration.refresh_from_db()
    assert iteration.publish_name == "Iteration1"
    screenshot("iteration-published")
    for testid in ("unpublish", "manage"):
        button = page.get_by_test_id(testid)
        sync_api.expect(button).to_be_visible()
        assert not _overlap(toast.bounding_box(), button.bounding_box()), testid
    page.get_by_test_id("unpublish").click()  # the toast never gets in the way of a click
    sync_api.expect(toast).to_contain_text("no longer published")
    iteration.refresh_from_db()
    assert iteration.publish_name is None or iteration.publish_name == ""


def test_prediction_url_snippets_are_whole_and_copy_with_one_click(  # type: ignore[no-untyped-def]
        page, live_server, owner, login_as, screenshot):
    from workspaces.services import personal_keys

    iteration = completed_iteration(tagged_project(owner, per_tag=5, name="Trees"), owner=owner,
                                    publish_name="treesModel")
    key = personal_keys(user=owner).prediction_key
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    login_as(owner)
    page.goto(f"{live_server.url}/iterations/{iteration.id}/")
    snippets = page.locator("#prediction-url pre")
    sync_api.expect(snippets).to_have_count(3)
    for i in range(3):  # nothing clipped: long URLs and keys wrap inside the box
        assert snippets.nth(i).evaluate("e => e.scrollWidth <= e.clientWidth"), i
    copy = page.locator("#prediction-url [data-copy]")
    sync_api.expect(copy).to_have_count(3)
    copy.first.click()
    sync_api.expect(copy.first).to_contain_text("Copied")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == snippets.first.inner_text()
    assert copied.startswith("curl -X POST") and f"Prediction-Key: {key}" in copied
    assert "/iterations/treesModel/image" in copied
    screenshot("iteration-prediction-url-copied")


@pytest.mark.parametrize("width", [1024, 600])
def test_a_narrow_window_stacks_the_page_without_sideways_scrolling(page, live_server, owner, login_as,  # type: ignore[no-untyped-def]
                                                                     iteration, width):
    """The train panel stacks over the iteration (below 900 px); a table wider than the window scrolls in its own
    region, not the page (the main column used to grow to the per-tag table's width, 669 px at 600)."""
    page.set_viewport_size({"width": width, "height": 800})
    login_as(owner)
    page.goto(f"{live_server.url}/iterations/{iteration.id}/")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    side, main = (page.locator(s).bounding_box() for s in (".iter-side", "#performance"))
    assert side is not None and main is not None and side["x"] + side["width"] <= width
    assert (side["y"] + side["height"] <= main["y"]) == (width < 900)
