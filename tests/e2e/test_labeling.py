"""Browser tests of the labeling screens: Playwright driving Debian's Chromium against live_server.

Detection: draw, resize, move, retag by hotkey, undo/redo, next image by keyboard, reload; a failed save
is shown and retried. Classification: a keyboard-only tagging run.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from labeling.models import Region
from projects.services import image_upload, project_create, tag_create
from tests.factories import DATASETS, make_image_bytes

sync_api = pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
QUICKSTART = DATASETS / "azure-quickstart"


@pytest.fixture
def labeler(page, login_as, owner):  # type: ignore[no-untyped-def]
    """The shared e2e ``page`` (fails on JS errors), signed in as the owner."""
    return login_as(owner)


def photo(path: Path, fallback_color: tuple[int, int, int]) -> bytes:
    return path.read_bytes() if path.exists() else make_image_bytes(size=(816, 612), color=fallback_color)


def upload(project, data):  # type: ignore[no-untyped-def]
    result = image_upload(project=project, data=data, filename="photo.jpg")
    assert result.status == "OK", result.message
    return result.image


def canvas_point(page, x: float, y: float) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    box = page.locator("#canvas").bounding_box()
    return box["x"] + x * box["width"], box["y"] + y * box["height"]


def drag(page, start, end):  # type: ignore[no-untyped-def]
    page.mouse.move(*canvas_point(page, *start))
    page.mouse.down()
    for i in range(1, 6):
        x = start[0] + (end[0] - start[0]) * i / 5
        y = start[1] + (end[1] - start[1]) * i / 5
        page.mouse.move(*canvas_point(page, x, y))
    page.mouse.up()


def saved(page):  # type: ignore[no-untyped-def]
    """Waits until every change is saved (the state turns "saving" synchronously on each edit)."""
    sync_api.expect(page.locator("#save-status")).to_have_attribute("data-state", "saved")


def the_region() -> Region:
    (region,) = Region.objects.select_related("tag")
    return region


def assert_box(region: Region, left: float, top: float, width: float, height: float) -> None:
    got = (region.left, region.top, region.width, region.height)
    assert got == pytest.approx((left, top, width, height), abs=0.01), got


def test_draw_resize_move_retag_undo_redo_next_and_reload(labeler, live_server, owner, screenshot):  # type: ignore[no-untyped-def]
    page = labeler
    project = project_create(created_by=owner, name="Kitchen", project_type="detection")
    fork = tag_create(project=project, name="fork")
    scissors = tag_create(project=project, name="scissors")
    older = upload(project, photo(QUICKSTART / "detection/fork/fork_1.jpg", (90, 90, 200)))
    newer = upload(project, photo(QUICKSTART / "detection/scissors/scissors_1.jpg", (200, 90, 90)))
    page.goto(f"{live_server.url}/images/{newer.id}/label/")
    sync_api.expect(page.locator("#labeler")).to_have_attribute("data-ready", "true")
    sync_api.expect(page.locator("#progress")).to_contain_text("1 of 2")

    # Draw: the picker opens at the box; type to filter, Enter picks.
    drag(page, (0.2, 0.2), (0.5, 0.6))
    sync_api.expect(page.locator("#picker")).to_be_visible()
    page.keyboard.type("fo")
    screenshot("labeling-detection-picker")
    page.keyboard.press("Enter")
    saved(page)
    region = the_region()
    assert region.tag == fork
    assert_box(region, 0.2, 0.2, 0.3, 0.4)
    assert list(newer.tags.all()) == [fork]
    screenshot("labeling-detection-labeler")

    # Resize by the bottom-right handle, then move by dragging the box.
    sync_api.expect(page.locator(".box.selected .handle-se")).to_be_visible()
    drag(page, (0.5, 0.6), (0.6, 0.7))
    saved(page)
    assert_box(the_region(), 0.2, 0.2, 0.4, 0.5)
    drag(page, (0.4, 0.45), (0.5, 0.4))
    saved(page)
    assert_box(the_region(), 0.3, 0.15, 0.4, 0.5)

    # A box can't leave the image: dragged far right it stops at the edge.
    drag(page, (0.5, 0.4), (0.95, 0.4))
    saved(page)
    assert_box(the_region(), 0.6, 0.15, 0.4, 0.5)

    # Retag with hotkey 2; undo brings fork back (on the server too), redo scissors again.
    page.keyboard.press("2")
    saved(page)
    assert the_region().tag == scissors and list(newer.tags.all()) == [scissors]
    page.keyboard.press("Control+z")
    saved(page)
    assert the_region().tag == fork
    page.keyboard.press("Control+Shift+z")
    saved(page)
    assert the_region().tag == scissors

    # Undo of a create deletes on the server; redo creates it again (same id).
    page.keyboard.press("Escape")  # deselect, so "1" sets the tag for new boxes
    page.keyboard.press("1")
    sync_api.expect(page.locator("#sticky-tag")).to_have_text("fork")
    drag(page, (0.05, 0.7), (0.25, 0.9))
    saved(page)
    assert Region.objects.count() == 2
    second = Region.objects.get(tag=fork)
    page.keyboard.press("Control+z")
    saved(page)
    assert Region.objects.count() == 1
    page.keyboard.press("Control+Shift+z")
    saved(page)
    assert Region.objects.get(tag=fork).id == second.id
    assert set(newer.tags.all()) == {fork, scissors}

    # A click (a drag under 2 px) makes no box: once the drag has ended (its outline is gone) there are still
    # two boxes and nothing is being saved.
    drag(page, (0.1, 0.1), (0.1005, 0.1005))
    sync_api.expect(page.locator(".box.drawing")).to_have_count(0)
    sync_api.expect(page.locator(".box")).to_have_count(2)
    saved(page)
    assert Region.objects.count() == 2

    # Delete key removes the selected box.
    page.locator(".box", has_text="fork").click()
    page.keyboard.press("Delete")
    saved(page)
    assert Region.objects.count() == 1

    # → goes to the next image in the grid's order, ← comes back; a reload finds the box where it was.
    page.keyboard.press("ArrowRight")
    page.wait_for_url(re.compile(f"/images/{older.id}/label/"))
    sync_api.expect(page.locator("#progress")).to_contain_text("2 of 2")
    page.keyboard.press("ArrowLeft")
    page.wait_for_url(re.compile(f"/images/{newer.id}/label/"))
    page.reload()
    sync_api.expect(page.locator("#labeler")).to_have_attribute("data-ready", "true")
    box = page.locator(".box")
    sync_api.expect(box).to_have_count(1)
    sync_api.expect(box).to_contain_text("scissors")
    style = box.get_attribute("style")
    left, top = (float(re.search(rf"{k}: ([\d.]+)%", style).group(1)) for k in ("left", "top"))
    assert (left, top) == pytest.approx((60, 15), abs=1)

    # "?" lists the shortcuts.
    page.keyboard.press("?")
    sync_api.expect(page.locator("#help")).to_be_visible()
    screenshot("labeling-detection-help")
    page.keyboard.press("Escape")
    sync_api.expect(page.locator("#help")).to_be_hidden()


def test_a_failed_save_is_shown_and_retried(labeler, live_server, owner, screenshot):  # type: ignore[no-untyped-def]
    page = labeler
    project = project_create(created_by=owner, name="Kitchen", project_type="detection")
    tag_create(project=project, name="fork")
    image = upload(project, make_image_bytes(size=(800, 600), color=(30, 120, 60)))
    failures = {"left": 2}

    def flaky(route):  # type: ignore[no-untyped-def]
        if failures["left"]:
            failures["left"] -= 1
            route.fulfill(status=503, body="down for a moment")
        else:
            route.continue_()

    page.route(re.compile(r".*/label/regions/create$"), flaky)
    page.goto(f"{live_server.url}/images/{image.id}/label/")
    sync_api.expect(page.locator("#labeler")).to_have_attribute("data-ready", "true")
    page.keyboard.press("1")
    drag(page, (0.3, 0.3), (0.6, 0.6))
    sync_api.expect(page.locator("#save-status")).to_have_attribute("data-state", "failed")
    sync_api.expect(page.locator("#save-status")).to_contain_text("Couldn't save")
    screenshot("labeling-detection-save-failed")
    sync_api.expect(page.locator("#save-status")).to_have_attribute("data-state", "saved", timeout=15_000)
    assert Region.objects.count() == 1 and failures["left"] == 0


def test_refused_input_is_shown_and_the_page_resynchronises(labeler, live_server, owner, screenshot):  # type: ignore[no-untyped-def]
    page = labeler
    project = project_create(created_by=owner, name="Kitchen", project_type="detection")
    fork = tag_create(project=project, name="fork")
    image = upload(project, make_image_bytes(size=(800, 600), color=(30, 60, 120)))
    page.goto(f"{live_server.url}/images/{image.id}/label/")
    sync_api.expect(page.locator("#labeler")).to_have_attribute("data-ready", "true")
    fork.delete()  # someone deleted the tag in another tab
    page.keyboard.press("1")
    drag(page, (0.3, 0.3), (0.6, 0.6))
    sync_api.expect(page.locator("#save-status")).to_have_attribute("data-state", "rejected")
    sync_api.expect(page.locator("#save-status")).to_contain_text("not found")
    sync_api.expect(page.locator(".box")).to_have_count(0)
    assert not Region.objects.exists()


def test_keyboard_only_classification_tagging(labeler, live_server, owner, screenshot):  # type: ignore[no-untyped-def]
    page = labeler
    project = project_create(created_by=owner, name="Trees", classification_type="Multiclass")
    hemlock = tag_create(project=project, name="Hemlock")
    cherry = tag_create(project=project, name="Japanese Cherry")
    negative = tag_create(project=project, name="Negative", type="Negative")
    images = [
        upload(project, photo(QUICKSTART / f"classification/{path}", (i * 40, 100, 60)))
        for i, path in enumerate(
            ["Hemlock/hemlock_10.jpg", "Japanese_Cherry/japanese_cherry_1.jpg", "Hemlock/hemlock_2.jpg"]
        )
    ]
    first = images[-1]  # newest first
    page.goto(f"{live_server.url}/projects/{project.id}/?filter=untagged")  # the grid, Untagged
    page.get_by_test_id("start-labeling").click()
    page.wait_for_url(re.compile(f"/images/{first.id}/label/\\?filter=untagged"))
    sync_api.expect(page.locator("#classifier")).to_have_attribute("data-ready", "true")
    sync_api.expect(page.locator("#progress")).to_contain_text("1 of 3")

    page.keyboard.press("1")
    saved(page)
    assert list(first.tags.all()) == [hemlock]
    page.keyboard.press("2")  # multiclass: replaces Hemlock
    saved(page)
    assert list(first.tags.all()) == [cherry]
    sync_api.expect(page.locator('button[data-hotkey="2"]')).to_have_attribute("aria-pressed", "true")
    sync_api.expect(page.locator('button[data-hotkey="1"]')).to_have_attribute("aria-pressed", "false")
    screenshot("labeling-classification-tagger")

    page.keyboard.press("ArrowRight")  # the tagged image left "untagged": next is the following untagged one
    page.wait_for_url(re.compile(f"/images/{images[1].id}/label/"))
    page.keyboard.press("n")
    saved(page)
    assert list(images[1].tags.all()) == [negative]
    page.keyboard.press("1")  # a regular tag replaces Negative
    saved(page)
    assert list(images[1].tags.all()) == [hemlock]
    page.keyboard.press("1")  # pressing it again takes it off
    saved(page)
    assert not images[1].tags.exists()

    page.keyboard.press("ArrowLeft")
    page.wait_for_url(re.compile(f"/images/{first.id}/label/"))
    sync_api.expect(page.locator('button[data-hotkey="2"]')).to_have_attribute("aria-pressed", "true")
    page.keyboard.press("?")
    sync_api.expect(page.locator("#help")).to_be_visible()
    page.keyboard.press("Escape")
    page.keyboard.press("g")  # back to the grid, same filter
    page.wait_for_url(re.compile(f"/projects/{project.id}/\\?filter=untagged"))


def test_zoom_and_pan_keep_boxes_in_image_coordinates(labeler, live_server, owner, screenshot):  # type: ignore[no-untyped-def]
    page = labeler
    project = project_create(created_by=owner, name="Kitchen", project_type="detection")
    tag_create(project=project, name="fork")
    image = upload(project, make_image_bytes(size=(4000, 3000), color=(120, 110, 100), fmt="JPEG"))
    page.goto(f"{live_server.url}/images/{image.id}/label/")
    sync_api.expect(page.locator("#labeler")).to_have_attribute("data-ready", "true")
    fitted = page.locator("#canvas").bounding_box()

    page.mouse.move(*canvas_point(page, 0.5, 0.5))
    page.mouse.wheel(0, -600)  # zoom in around the cursor (wheel() does not wait for the page to handle it)
    page.wait_for_function("w => document.querySelector('#canvas').getBoundingClientRect().width > w",
                           arg=fitted["width"] * 1.5)
    zoomed = page.locator("#canvas").bounding_box()
    centre = (zoomed["x"] + zoomed["width"] / 2, zoomed["y"] + zoomed["height"] / 2)
    assert centre == pytest.approx((fitted["x"] + fitted["width"] / 2, fitted["y"] + fitted["height"] / 2), abs=3)

    # Space + drag pans (and draws nothing).
    page.keyboard.down(" ")
    page.mouse.move(600, 400)
    page.mouse.down()
    page.mouse.move(700, 450, steps=5)
    page.mouse.up()
    page.keyboard.up(" ")
    panned = page.locator("#canvas").bounding_box()
    assert (panned["x"] - zoomed["x"], panned["y"] - zoomed["y"]) == pytest.approx((100, 50), abs=2)
    sync_api.expect(page.locator(".box")).to_have_count(0)
    saved(page)
    assert not Region.objects.exists()
    page.mouse.down(button="middle")  # so does a middle drag
    page.mouse.move(600, 400, steps=5)
    page.mouse.up(button="middle")
    assert page.locator("#canvas").bounding_box()["x"] == pytest.approx(zoomed["x"], abs=2)
    sync_api.expect(page.locator(".box")).to_have_count(0)
    saved(page)
    assert not Region.objects.exists()

    page.keyboard.press("1")
    drag(page, (0.45, 0.45), (0.55, 0.6))
    saved(page)
    assert_box(the_region(), 0.45, 0.45, 0.1, 0.15)
    screenshot("labeling-detection-zoomed")
    page.keyboard.press("0")  # fit again
    page.wait_for_function("w => Math.abs(document.querySelector('#canvas').getBoundingClientRect().width - w) <= 1",
                           arg=fitted["width"])


def test_the_picker_creates_a_new_tag_and_the_list_deletes_boxes(labeler, live_server, owner):  # type: ignore[no-untyped-def]
    page = labeler
    project = project_create(created_by=owner, name="Kitchen", project_type="detection")
    tag_create(project=project, name="fork")
    image = upload(project, make_image_bytes(size=(800, 600), color=(60, 60, 60)))
    page.goto(f"{live_server.url}/images/{image.id}/label/")
    sync_api.expect(page.locator("#labeler")).to_have_attribute("data-ready", "true")
    drag(page, (0.1, 0.1), (0.4, 0.3))
    page.keyboard.type("Spoon")
    sync_api.expect(page.locator("#picker-list li.create")).to_have_text("Create tag “Spoon”")
    page.keyboard.press("Escape")  # cancels the new box
    sync_api.expect(page.locator(".box")).to_have_count(0)

    drag(page, (0.1, 0.1), (0.4, 0.3))
    page.keyboard.type("Spoon")
    page.keyboard.press("Enter")
    saved(page)
    region = the_region()
    assert region.tag.name == "Spoon" and region.tag.project == project
    sync_api.expect(page.locator("#tag-list .tag-choice", has_text="Spoon")).to_contain_text("2")  # hotkey 2
    sync_api.expect(page.locator("#region-list")).to_contain_text("240×120 px at 80, 60")

    page.locator(".box", has_text="Spoon").dblclick()  # double-click retags: the picker opens at the box
    sync_api.expect(page.locator("#picker")).to_be_visible()
    page.keyboard.press("1")  # a hotkey on the empty picker field picks fork
    saved(page)
    assert the_region().tag.name == "fork"
    page.keyboard.press("Control+z")
    saved(page)
    assert the_region().tag.name == "Spoon"

    page.locator("#region-list li", has_text="Spoon").hover()
    page.locator("#region-list .region-delete").click()
    saved(page)
    assert not Region.objects.exists()
    page.keyboard.press("Control+z")
    saved(page)
    assert the_region().id == region.id


def test_edits_made_while_signed_out_wait_and_are_saved_after_signing_in(labeler, live_server, owner, login_as):  # type: ignore[no-untyped-def]
    page = labeler
    project = project_create(created_by=owner, name="Kitchen", project_type="detection")
    tag_create(project=project, name="fork")
    image = upload(project, make_image_bytes(size=(800, 600), color=(90, 30, 60)))
    page.goto(f"{live_server.url}/images/{image.id}/label/")
    sync_api.expect(page.locator("#labeler")).to_have_attribute("data-ready", "true")
    page.context.clear_cookies(name="sessionid")  # the session ended
    page.keyboard.press("1")
    drag(page, (0.2, 0.2), (0.5, 0.5))
    sync_api.expect(page.locator("#save-status")).to_contain_text("signed out")
    assert not Region.objects.exists()
    login_as(owner)  # signed in again (e.g. in another tab)
    page.locator("#save-retry").click()
    saved(page)
    assert_box(the_region(), 0.2, 0.2, 0.3, 0.3)


def test_the_new_boxes_tag_stays_from_image_to_image(labeler, live_server, owner):  # type: ignore[no-untyped-def]
    page = labeler
    project = project_create(created_by=owner, name="Kitchen", project_type="detection")
    tag_create(project=project, name="fork")
    scissors = tag_create(project=project, name="scissors")
    first = upload(project, make_image_bytes(size=(800, 600), color=(30, 90, 60)))
    second = upload(project, make_image_bytes(size=(800, 600), color=(60, 30, 90)))
    page.goto(f"{live_server.url}/images/{second.id}/label/")
    sync_api.expect(page.locator("#labeler")).to_have_attribute("data-ready", "true")
    page.keyboard.press("2")  # nothing selected: scissors for every new box
    sync_api.expect(page.locator("#sticky-tag")).to_have_text("scissors")

    page.keyboard.press("ArrowRight")
    page.wait_for_url(re.compile(f"/images/{first.id}/label/"))
    sync_api.expect(page.locator("#labeler")).to_have_attribute("data-ready", "true")
    sync_api.expect(page.locator("#sticky-tag")).to_have_text("scissors")  # not "ask for a tag" again
    drag(page, (0.2, 0.2), (0.5, 0.5))
    saved(page)
    sync_api.expect(page.locator("#picker")).to_be_hidden()
    assert the_region().tag == scissors and the_region().image_id == first.id

    page.reload()
    sync_api.expect(page.locator("#labeler")).to_have_attribute("data-ready", "true")
    sync_api.expect(page.locator("#sticky-tag")).to_have_text("scissors")
    page.keyboard.press("Escape")  # off again, and that is remembered too
    sync_api.expect(page.locator("#sticky-tag")).to_have_text("ask for a tag")
    page.reload()
    sync_api.expect(page.locator("#labeler")).to_have_attribute("data-ready", "true")
    sync_api.expect(page.locator("#sticky-tag")).to_have_text("ask for a tag")


def test_walking_untagged_images_counts_up_and_ends_with_all_done(labeler, live_server, owner, screenshot):  # type: ignore[no-untyped-def]
    page = labeler
    project = project_create(created_by=owner, name="Trees", classification_type="Multiclass")
    hemlock = tag_create(project=project, name="Hemlock")
    images = [upload(project, make_image_bytes(size=(320, 240), color=(40 * i, 120, 80))) for i in range(3)]
    page.goto(f"{live_server.url}/projects/{project.id}/?filter=untagged")
    page.get_by_test_id("start-labeling").click()
    progress = page.locator("#progress strong")
    for n, image in enumerate(reversed(images), 1):  # newest first; each one leaves "Untagged" once tagged
        page.wait_for_url(re.compile(f"/images/{image.id}/label/"))
        sync_api.expect(page.locator("#classifier")).to_have_attribute("data-ready", "true")
        sync_api.expect(progress).to_have_text(f"{n} of 3")
        page.keyboard.press("1")
        saved(page)
        page.keyboard.press("ArrowRight")
    done = page.locator("#all-done")
    sync_api.expect(done).to_be_visible()
    sync_api.expect(done).to_contain_text("All done")
    sync_api.expect(done).to_contain_text("3 untagged images")
    assert all(list(i.tags.all()) == [hemlock] for i in images)
    screenshot("labeling-classification-all-done")

    page.keyboard.press("ArrowLeft")  # back along the walk: the counter stays the walk's
    page.wait_for_url(re.compile(f"/images/{images[1].id}/label/"))
    sync_api.expect(progress).to_have_text("2 of 3")
    sync_api.expect(done).to_be_hidden()
    page.get_by_role("button", name="Finish").click()  # nothing untagged is left after it: Next is "Finish"
    sync_api.expect(done).to_be_visible()
    done.get_by_role("link", name="Back to the images").click()
    page.wait_for_url(re.compile(f"/projects/{project.id}/\\?filter=untagged"))
