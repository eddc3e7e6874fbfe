"""Browser: download a project's archive from its settings, import it from the projects list, open the copy."""

from __future__ import annotations

import pytest

from tests.training.builders import completed_iteration, tagged_project

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_download_an_archive_and_import_it_as_a_new_project(page, live_server, owner, login_as, screenshot):  # type: ignore[no-untyped-def]
    from projects.models import Project

    source = tagged_project(owner)
    completed_iteration(source, owner=owner, publish_name="live")
    base = live_server.url
    login_as(owner)

    page.goto(f"{base}/projects/{source.id}/edit")
    screenshot("archive-01-settings")
    with page.expect_download() as download:
        page.click("[data-testid=archive-download]")
    assert download.value.suggested_filename.endswith(".tagsight.zip")
    archive = download.value.path()

    page.goto(f"{base}/")
    page.click("[data-testid=archive-import-link]")
    page.set_input_files("input[name=archive]", archive)
    page.click("[data-testid=archive-upload]")
    preview = page.locator("[data-testid=archive-preview]")
    assert "10" in preview.inner_text() and "1 (with their models and metrics)" in preview.inner_text()
    assert "publish them again" in page.content()
    screenshot("archive-02-preview")
    page.fill("input[name=name]", "Trees from the archive")
    page.click("[data-testid=archive-confirm]")

    page.wait_for_selector("text=Imported “Trees from the archive” from the archive.")
    copy = Project.objects.get(name="Trees from the archive")
    assert page.url.rstrip("/").endswith(str(copy.id))
    assert copy.images.count() == 10 and copy.iterations.count() == 1
    screenshot("archive-03-imported")
