"""Browser: sign in, create a project, drop three real images with a tag, see them in the grid under that tag."""

from __future__ import annotations

import base64

import pytest

from tests.e2e.conftest import sign_in
from tests.factories import DATASETS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

HEMLOCK = sorted((DATASETS / "azure-quickstart" / "classification" / "Hemlock").glob("*.jpg"))[:3]

# Builds a DataTransfer holding real files in the page, as the OS does for a drag from the desktop.
MAKE_DATA_TRANSFER = """(files) => {
  const dt = new DataTransfer();
  for (const [name, b64, type] of files) {
    const bin = atob(b64);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    dt.items.add(new File([bytes], name, { type }));
  }
  return dt;
}"""


def test_drop_three_images_with_a_tag_and_find_them_under_it(page, live_server, owner, screenshot):
    from projects.models import Image, Project

    base = live_server.url
    page.goto(f"{base}/")  # not signed in: the login form
    assert "/accounts/login/" in page.url
    screenshot("00-login")
    sign_in(page, base, "owner", "owner-pass-123")
    screenshot("01-project-list-empty")

    page.click("text=+ New project")
    page.fill("input[name=name]", "Trees")
    page.fill("textarea[name=description]", "Hemlock or cherry?")
    page.check("input[name=project_type][value=classification]")
    page.check("input[name=classification_type][value=Multiclass]")
    screenshot("02-project-create")
    page.click("button:has-text('Create project')")
    page.wait_for_selector("#workspace")
    project = Project.objects.get(created_by=owner)
    assert page.url.endswith(f"/projects/{project.id}/")
    screenshot("03-project-empty")

    page.click("[data-testid=add-images]")
    page.wait_for_selector("[data-dropzone]")
    page.fill("[data-new-tag]", "Hemlock")
    page.click("[data-add-tag]")
    page.wait_for_selector("#tag-picker label.chip-check:has-text('Hemlock') input:checked")

    # Two files through the file picker, one by a real drop on the zone.
    page.set_input_files("[data-file-input]", [str(p) for p in HEMLOCK[:2]])
    dropped = HEMLOCK[2]
    data_transfer = page.evaluate_handle(
        MAKE_DATA_TRANSFER, [[dropped.name, base64.b64encode(dropped.read_bytes()).decode(), "image/jpeg"]]
    )
    page.dispatch_event("[data-dropzone]", "dragenter", {"dataTransfer": data_transfer})
    page.dispatch_event("[data-dropzone]", "dragover", {"dataTransfer": data_transfer})
    page.dispatch_event("[data-dropzone]", "drop", {"dataTransfer": data_transfer})
    assert page.locator("[data-list] .upload-item").count() == 3
    assert page.inner_text("[data-start]") == "Upload 3 files"
    screenshot("04-upload-queued")

    page.click("[data-start]")
    page.wait_for_function("document.querySelectorAll('[data-list] .upload-item.OK').length === 3")
    assert "3 stored · 0 duplicates · 0 rejected" in page.inner_text("[data-summary]")
    screenshot("05-upload-done")
    assert Image.objects.filter(project=project, tags__name="Hemlock").count() == 3

    page.click("text=View images")  # the grid, filtered by the batch's tag
    page.wait_for_selector("#grid .thumb")
    assert "tag=" in page.url
    assert page.locator("#grid .thumb").count() == 3
    assert page.locator("#tag-list, [data-testid=tag-list]").locator(".tag-row.active").inner_text().split() == [
        "Hemlock", "3"
    ]
    # The thumbnails really load (served behind the login).
    page.wait_for_function(
        "[...document.querySelectorAll('#grid .thumb img')].every(i => i.complete && i.naturalWidth > 0)"
    )
    assert page.locator(".grid-title").inner_text() == "Images tagged “Hemlock”"
    screenshot("06-grid-under-tag")

    # Untagged shows none of them.
    page.click("[data-testid=filter-untagged]")
    page.wait_for_selector(".empty-state")
    assert page.locator("#grid .thumb").count() == 0

    page.click(".brand")  # the project list: a tile with a cover thumbnail and the image count
    tile = page.locator("[data-testid=project-tile]")
    assert "Trees" in tile.inner_text() and "3 images" in tile.inner_text()
    page.wait_for_function("document.querySelector('.tile-cover img').naturalWidth > 0")
    screenshot("09-project-list")


def test_select_with_shift_click_tag_the_selection_and_open_an_image(page, live_server, owner, login_as, screenshot):
    from projects import services
    from projects.models import Image

    project = services.project_create(created_by=owner, name="Insects")
    bees = services.tag_create(project=project, name="bees")
    photos = sorted((DATASETS / "azure-quickstart" / "detection" / "fork").glob("*.jpg"))[:6]
    for photo in photos:
        services.image_upload(project=project, data=photo.read_bytes(), filename=photo.name)
    login_as(owner)
    page.goto(f"{live_server.url}/projects/{project.id}/")
    tiles = page.locator("#grid .thumb")
    assert tiles.count() == 6

    tiles.nth(0).locator(".thumb-check").click()
    tiles.nth(3).locator(".thumb-check").click(modifiers=["Shift"])
    assert page.inner_text("[data-selection-count]") == "4 selected"
    page.select_option("#image-actions select[name=tag_ids]", label="bees")
    screenshot("07-selection")
    page.click("#image-actions button[value=tag]")
    page.wait_for_function(
        f"document.querySelector('#tag-{bees.id} [data-testid=tag-count]').textContent.trim() === '4'"
    )
    assert Image.objects.filter(project=project, tags=bees).count() == 4
    assert page.locator("#workspace").get_attribute("hx-target") == "this"

    page.click("[data-select-all]")
    assert page.inner_text("[data-selection-count]") == "6 selected"
    page.click("[data-select-none]")

    # With nothing selected, a click opens the image in a dialog at display size, with its tags.
    newest = Image.objects.filter(project=project).order_by("-created", "-id").first()
    page.locator(f"#grid .thumb[data-image-id='{newest.id}'] .thumb-open").click()
    page.wait_for_selector("#image-dialog[open] #image-panel img")
    page.wait_for_function("document.querySelector('#image-panel img').naturalWidth > 0")
    screenshot("08-image-dialog")
    second = Image.objects.filter(project=project).order_by("-created", "-id")[1]
    page.keyboard.press("ArrowRight")  # the next image, in the grid's order
    page.wait_for_selector(f"#image-panel img[src*='{second.id}']")
    page.keyboard.press("ArrowLeft")
    page.wait_for_selector(f"#image-panel img[src*='{newest.id}']")
    on = newest.tags.filter(pk=bees.pk).exists()
    page.click("#image-panel .chip")
    page.wait_for_selector("#image-panel .chip" + (":not(.on)" if on else ".on"))
    assert newest.tags.filter(pk=bees.pk).exists() is not on
    page.click("[data-close-dialog]")
    expected = "3" if on else "5"
    page.wait_for_function(
        f"document.querySelector('#tag-{bees.id} [data-testid=tag-count]').textContent.trim() === '{expected}'"
    )


def test_tag_panel_create_rename_delete_and_delete_images(page, live_server, owner, login_as, screenshot):
    from projects import services
    from projects.models import Image, Tag

    project = services.project_create(created_by=owner, name="Insects")
    photos = sorted((DATASETS / "azure-quickstart" / "detection" / "scissors").glob("*.jpg"))[:3]
    for photo in photos:
        services.image_upload(project=project, data=photo.read_bytes(), filename=photo.name)
    login_as(owner)
    page.on("dialog", lambda dialog: dialog.accept())  # hx-confirm / data-confirm prompts
    page.goto(f"{live_server.url}/projects/{project.id}/")

    page.fill(".tag-panel .tag-add input[name=name]", "ants")
    page.press(".tag-panel .tag-add input[name=name]", "Enter")
    page.wait_for_selector(".tag-row[data-tag-name=ants]")
    ants = Tag.objects.get(project=project, name="ants")

    row = page.locator(f"#tag-{ants.id}")
    row.hover()
    row.locator("a[title^=Rename]").click()
    page.wait_for_selector(f"#tag-{ants.id} form.tag-rename")
    page.fill(f"#tag-{ants.id} input[name=name]", "Formicidae")
    screenshot("10-tag-rename")
    page.press(f"#tag-{ants.id} input[name=name]", "Enter")
    page.wait_for_selector(".tag-row[data-tag-name=Formicidae]")
    assert Tag.objects.get(pk=ants.pk).name == "Formicidae"

    page.click("[data-select-all]")
    page.click("#image-actions button[value=tag]")
    page.wait_for_function(
        f"document.querySelector('#tag-{ants.id} [data-testid=tag-count]').textContent.trim() === '3'"
    )

    page.locator("#grid .thumb").first.locator(".thumb-check").click()
    page.click("#image-actions button[value=delete]")
    page.wait_for_function("document.querySelectorAll('#grid .thumb').length === 2")
    assert Image.objects.filter(project=project).count() == 2
    assert "Deleted 1 image." in page.inner_text("#messages")

    row = page.locator(f"#tag-{ants.id}")
    row.hover()
    row.locator("button[title^=Delete]").click()
    page.wait_for_selector(".tag-empty")
    assert not Tag.objects.filter(project=project).exists()

    page.click("[data-testid=train] ~ a[title='Project settings']")
    page.wait_for_selector(".project-form")
    screenshot("11-project-settings")
    page.click("text=Delete project…")
    page.wait_for_selector("text=Delete project?")
    screenshot("12-project-delete")
    page.click("button:has-text('Delete project')")
    page.wait_for_url(f"{live_server.url}/")
    assert not Image.objects.exists()
