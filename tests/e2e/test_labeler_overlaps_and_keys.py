"""Browser tests of the detection labeler on crowded images and from the keyboard (issue #11, items 3 and 7).

A drag that starts inside an unselected box draws a new box (only the selected box moves); keys a focused
control uses itself (Space, Enter, Tab) are left to it, and Tab walks the boxes and then leaves the image.
"""

from __future__ import annotations

import re

import pytest

from labeling.models import Region
from labeling.services import region_create
from projects.services import project_create, tag_create
from tests.e2e.test_labeling import canvas_point, drag, saved, upload
from tests.factories import make_image_bytes

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SELECTED = re.compile(r"\bselected\b")


def coords(region: Region) -> tuple[float, float, float, float]:
    region.refresh_from_db()
    return (region.left, region.top, region.width, region.height)


@pytest.fixture
def two_boxes(owner):  # type: ignore[no-untyped-def]
    """An image with two overlapping boxes: A (0.1–0.5) and B (0.3–0.7) on both axes; tags fork (1), knife (2)."""
    project = project_create(created_by=owner, name="Kitchen", project_type="detection")
    fork = tag_create(project=project, name="fork")
    knife = tag_create(project=project, name="knife")
    image = upload(project, make_image_bytes(size=(800, 600), color=(70, 90, 110)))
    a = region_create(image=image, tag=fork, left=0.1, top=0.1, width=0.4, height=0.4)
    b = region_create(image=image, tag=knife, left=0.3, top=0.3, width=0.4, height=0.4)
    return image, a, b


def open_labeler(page, live_server, image):  # type: ignore[no-untyped-def]
    page.goto(f"{live_server.url}/images/{image.id}/label/")
    expect(page.locator("#labeler")).to_have_attribute("data-ready", "true")
    expect(page.locator(".box")).to_have_count(Region.objects.filter(image=image).count())


def test_a_drag_inside_an_unselected_box_draws_and_only_the_selected_box_moves(  # type: ignore[no-untyped-def]
    page, login_as, owner, live_server, two_boxes
):
    image, a, b = two_boxes
    a_before, b_before = coords(a), coords(b)
    login_as(owner)
    open_labeler(page, live_server, image)
    expect(page.locator(".box.selected")).to_have_count(0)
    page.keyboard.press("1")  # new boxes get "fork" without asking
    expect(page.locator("#sticky-tag")).to_have_text("fork")

    # Where A and B overlap (B on top), a drag draws a third box and leaves both where they were.
    drag(page, (0.35, 0.35), (0.45, 0.45))
    saved(page)
    assert Region.objects.count() == 3
    third = Region.objects.exclude(id__in=[a.id, b.id]).get()
    assert coords(third) == pytest.approx((0.35, 0.35, 0.1, 0.1), abs=0.01)
    assert coords(a) == pytest.approx(a_before) and coords(b) == pytest.approx(b_before)

    # A click selects A (the smallest box under the pointer); then dragging its body moves it.
    page.mouse.click(*canvas_point(page, 0.15, 0.15))
    expect(page.locator(f'#region-list li[data-region-id="{a.id}"]')).to_have_class(SELECTED)
    drag(page, (0.2, 0.2), (0.25, 0.3))
    saved(page)
    assert coords(a) == pytest.approx((0.15, 0.2, 0.4, 0.4), abs=0.01)
    assert coords(b) == pytest.approx(b_before) and coords(third) == pytest.approx((0.35, 0.35, 0.1, 0.1), abs=0.01)

    # Shift+drag draws even inside the selected box.
    moved_a = coords(a)
    page.keyboard.down("Shift")
    drag(page, (0.18, 0.24), (0.26, 0.32))
    page.keyboard.up("Shift")
    saved(page)
    assert Region.objects.count() == 4
    assert coords(a) == pytest.approx(moved_a)
    page.keyboard.press("?")
    expect(page.locator("#help")).to_contain_text("even inside another box")


def test_focused_controls_keep_space_enter_and_tab(page, login_as, owner, live_server, two_boxes):  # type: ignore[no-untyped-def]
    image, a, b = two_boxes
    login_as(owner)
    open_labeler(page, live_server, image)
    stage = page.locator("#stage")
    expect(stage).to_be_focused()

    # Tab on the image selects each box in turn, then focus moves on to the side panel (no trap).
    page.keyboard.press("Tab")
    expect(page.locator(f'#region-list li[data-region-id="{a.id}"]')).to_have_class(SELECTED)
    page.keyboard.press("Tab")
    expect(page.locator(f'#region-list li[data-region-id="{b.id}"]')).to_have_class(SELECTED)
    page.keyboard.press("Tab")
    expect(page.locator("#tag-list .tag-choice").first).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.locator("#tag-list .tag-choice").nth(1)).to_be_focused()
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    expect(stage).to_be_focused()

    # Space presses a focused button: the shortcuts button opens the list, Space on "Close" closes it.
    page.locator("#help-button").focus()
    page.keyboard.press(" ")
    expect(page.locator("#help")).to_be_visible()
    expect(page.locator("#help [data-close]")).to_be_focused()
    page.keyboard.press(" ")
    expect(page.locator("#help")).to_be_hidden()

    # Enter presses a focused button even while a box is selected (B is): Tab from A's row in the list
    # reaches its delete button, and Enter there deletes box A.
    expect(page.locator(".box.selected")).to_have_count(1)
    row = page.locator(f'#region-list li[data-region-id="{a.id}"]')
    row.locator(".region-item").focus()
    page.keyboard.press("Tab")
    expect(row.locator(".region-delete")).to_be_focused()
    page.keyboard.press("Enter")
    saved(page)
    assert list(Region.objects.values_list("id", flat=True)) == [b.id]
    expect(page.locator("#picker")).to_be_hidden()
