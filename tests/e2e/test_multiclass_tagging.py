"""Browser: in a multiclass project an image never silently gets a second tag (issue #11, item 4).

The grid's bulk "Add tag" and the image dialog's tag chips replace the image's tag; the upload picker offers
one tag (radio buttons) and starts each batch from what the user picks for it, not from the last batch.
"""

from __future__ import annotations

import pytest

from projects import services
from tests.factories import make_image_bytes

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _tags(image) -> set[str]:  # type: ignore[no-untyped-def]
    return set(image.tags.values_list("name", flat=True))


def test_tagging_replaces_the_tag_and_the_picker_starts_each_batch_afresh(  # type: ignore[no-untyped-def]
    page, live_server, owner, login_as, tmp_path
):
    project = services.project_create(created_by=owner, name="Trees")  # multiclass by default
    hemlock = services.tag_create(project=project, name="Hemlock")
    services.tag_create(project=project, name="Cherry")
    login_as(owner)

    page.goto(f"{live_server.url}/projects/{project.id}/upload")
    picker = page.locator("#tag-picker")
    expect(picker.locator("input[type=checkbox]")).to_have_count(0)  # one tag per image: radios
    picker.locator("label:has-text('Hemlock') input").check()
    first = tmp_path / "first.png"
    first.write_bytes(make_image_bytes(color=(10, 120, 40)))
    page.set_input_files("[data-file-input]", [str(first)])
    page.locator("#upload-form button[type=submit]").click()
    expect(page.locator("[data-done]")).to_have_text("View images")
    # The next batch starts from "No tag", not from the previous batch's Hemlock.
    expect(picker.locator("input[data-no-tag]")).to_be_checked()
    expect(picker.locator("label:has-text('Hemlock') input")).not_to_be_checked()
    image = project.images.get()
    assert _tags(image) == {"Hemlock"}

    # The grid's bulk "Add tag" replaces Hemlock by Cherry.
    page.goto(f"{live_server.url}/projects/{project.id}/")
    page.locator(f"[data-image-id='{image.id}'] .thumb-check").check()
    page.locator("#image-actions select[name=tag_ids]").select_option(label="Cherry")
    with page.expect_response(lambda r: "/images/action" in r.url):
        page.locator("#image-actions button[value=tag]").click()
    expect(page.locator(f"#tag-{hemlock.id}")).to_contain_text("0")
    assert _tags(image) == {"Cherry"}

    # The image dialog's chips: picking Hemlock replaces Cherry.
    page.goto(f"{live_server.url}/images/{image.id}/")
    page.locator("button.chip[title='Add “Hemlock”']").click()
    expect(page.locator("button.chip[title='Remove “Hemlock”']")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("button.chip[title='Add “Cherry”']")).to_have_attribute("aria-pressed", "false")
    assert _tags(image) == {"Hemlock"}
