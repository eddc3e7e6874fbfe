"""Browser tests of the Training images page (issue #11, items 5 and 6).

Ticking a tag in the filter panel filters the grid; ←/→ in the image dialog send one request per press,
however many selections and htmx swaps came before.
"""

from __future__ import annotations

import re

import pytest

from projects import services
from tests.factories import make_image_bytes

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
DETAIL = re.compile(r"/images/[0-9a-f-]{36}/$")  # the image dialog's panel (projects:image-detail)


@pytest.fixture
def insects(owner):  # type: ignore[no-untyped-def]
    """Six images, newest first in the grid: the two oldest tagged "ants", the next two "bees", two untagged."""
    project = services.project_create(created_by=owner, name="Insects")
    ants = services.tag_create(project=project, name="ants")
    bees = services.tag_create(project=project, name="bees")
    images = []
    for i in range(6):
        result = services.image_upload(
            project=project, data=make_image_bytes(size=(64, 48), color=(40 * i, 90, 120)), filename=f"{i}.png"
        )
        assert result.status == "OK", result.message
        images.append(result.image)
    services.images_tag(project=project, image_ids=[im.id for im in images[:2]], tag_ids=[ants.id])
    services.images_tag(project=project, image_ids=[im.id for im in images[2:4]], tag_ids=[bees.id])
    return project, ants, bees, images


def test_ticking_a_tag_filters_the_grid(page, live_server, owner, login_as, insects):  # type: ignore[no-untyped-def]
    project, ants, bees, images = insects
    login_as(owner)
    page.goto(f"{live_server.url}/projects/{project.id}/")
    tiles = page.locator("#grid .thumb")
    expect(tiles).to_have_count(6)

    page.locator(f"#tag-{bees.id} input[type=checkbox]").check()
    expect(page.locator(".grid-title")).to_have_text("Images tagged “bees”")
    expect(tiles).to_have_count(2)
    assert {tiles.nth(i).get_attribute("data-image-id") for i in range(2)} == {str(im.id) for im in images[2:4]}
    expect(page).to_have_url(re.compile(f"tag={bees.id}"))
    expect(page.locator(f"#tag-{bees.id}")).to_have_class(re.compile(r"\bactive\b"))

    page.locator(f"#tag-{ants.id} input[type=checkbox]").check()  # a second tag widens the filter
    expect(tiles).to_have_count(4)
    page.locator(f"#tag-{bees.id} input[type=checkbox]").uncheck()
    expect(tiles).to_have_count(2)
    expect(page.locator(".grid-title")).to_have_text("Images tagged “ants”")
    page.locator("[data-testid=filter-untagged]").click()  # the status radios still filter, with the tag kept
    expect(page.locator("[data-testid=image-grid] .thumb")).to_have_count(0)
    expect(page).to_have_url(re.compile(f"filter=untagged.*tag={ants.id}|tag={ants.id}.*filter=untagged"))


def test_an_arrow_press_sends_one_request_after_many_selections_and_swaps(  # type: ignore[no-untyped-def]
    page, live_server, owner, login_as, insects
):
    project, ants, bees, images = insects
    newest_first = images[::-1]
    login_as(owner)
    page.goto(f"{live_server.url}/projects/{project.id}/")
    tiles = page.locator("#grid .thumb")
    expect(tiles).to_have_count(6)

    # Selections (each click on a tile's box) and htmx swaps of the workspace (the status filter).
    for i in range(4):
        tiles.nth(i).locator(".thumb-check").click()
    expect(page.locator("[data-selection-count]")).to_have_text("4 selected")
    page.click("[data-select-none]")
    for status in ("untagged", "tagged", "all"):
        page.locator("#filters label", has=page.locator(f"input[value={status}]")).click()
        expect(page).to_have_url(re.compile(f"filter={status}"))
    expect(tiles).to_have_count(6)

    # Open the newest image in the dialog (a swap too) and step on with →: one request per press.
    details: list[str] = []
    page.on("request", lambda request: details.append(request.url) if DETAIL.search(request.url) else None)
    tiles.first.locator(".thumb-open").click()
    panel_img = page.locator("#image-dialog[open] #image-panel img")
    expect(panel_img).to_have_attribute("src", re.compile(str(newest_first[0].id)))
    assert len(details) == 1
    page.keyboard.press("ArrowRight")
    expect(panel_img).to_have_attribute("src", re.compile(str(newest_first[1].id)))
    idle(page)
    assert len(details) == 2, details

    # htmx drops the extra clicks of a link its answer swaps away, so the duplicates reached the network
    # when the answer swaps nothing: here the next image was deleted in another tab meanwhile (a 404).
    services.images_delete(project=project, image_ids=[newest_first[2].id])
    page.keyboard.press("ArrowRight")
    idle(page)
    assert details[2:] == [f"{live_server.url}/images/{newest_first[2].id}/"], details
    expect(panel_img).to_have_attribute("src", re.compile(str(newest_first[1].id)))

    # A press right after a swap, before htmx has settled (and wired up) the new panel's links, still steps
    # inside the dialog rather than following the plain link out of the page. A long settle makes it certain.
    page.evaluate("htmx.config.defaultSettleDelay = 1500")
    page.keyboard.press("ArrowLeft")
    expect(panel_img).to_have_attribute("src", re.compile(str(newest_first[0].id)))
    page.keyboard.press("ArrowRight")
    expect(panel_img).to_have_attribute("src", re.compile(str(newest_first[1].id)))
    expect(page).to_have_url(re.compile(f"/projects/{project.id}/"))


def idle(page) -> None:  # type: ignore[no-untyped-def]
    """Waits until htmx has no request in flight (htmx marks the requesting element with .htmx-request).

    A queued duplicate starts in the same task that ends the request before it, so once nothing is in
    flight every request sent so far has been reported to page.on("request").
    """
    expect(page.locator(".htmx-request")).to_have_count(0)


@pytest.mark.parametrize("width", [1366, 1024, 800])
def test_the_top_bar_fits_narrower_windows(live_server, logged_in_page, owner, screenshot, width):  # type: ignore[no-untyped-def]
    """At 1366 px a project's bar is one row; narrower, its name, tabs and buttons take rows of their own: nothing in
    it overlaps anything else or leaves the window, and the page does not scroll sideways."""
    project = services.project_create(created_by=owner, name="A project with a fairly long name for the bar")
    page = logged_in_page
    page.set_viewport_size({"width": width, "height": 700})
    page.goto(f"{live_server.url}/projects/{project.id}/")
    items = (".brand, .topbar-project-name, .tab, .topbar-actions > *, .switcher > summary, .topbar-user > a, "
             ".topbar-user > form button")
    boxes = page.evaluate("""items => [...document.querySelectorAll(items)].map(e => {
        const r = e.getBoundingClientRect();
        return [e.textContent.trim().slice(0, 20), r.left, r.top, r.right, r.bottom];
      })""", items)
    assert len(boxes) == 12, "|".join(b[0] for b in boxes)
    for i, (a, *ra) in enumerate(boxes):
        assert 0 <= ra[0] and ra[2] <= width, (a, ra)
        for b, *rb in boxes[i + 1:]:
            apart = ra[2] <= rb[0] or rb[2] <= ra[0] or ra[3] <= rb[1] or rb[3] <= ra[1]
            assert apart, (a, ra, b, rb)
    rows = {round((top + bottom) / 2 / 12) for _, _, top, _, bottom in boxes}  # each item's row, by its centre
    assert len(rows) == (1 if width == 1366 else 2 if width == 1024 else 3), rows
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    screenshot(f"topbar-{width}")
