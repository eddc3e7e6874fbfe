"""Browser: the Custom Vision import pages from the projects list pass axe (the import itself, against a second
server, is tests/datasets/customvision/)."""

from __future__ import annotations

import socket
import uuid

import pytest

from tests.e2e.conftest import axe_check

sync_api = pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_import_pages_pass_axe(page, live_server, owner, login_as, screenshot):  # type: ignore[no-untyped-def]
    from datasets.customvision.models import ImportJob
    from workspaces.services import personal_workspace_ensure

    login_as(owner)
    base = live_server.url
    page.goto(base + "/")
    page.click("[data-testid=import-customvision]")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    page.fill("input[name=endpoint]", f"http://127.0.0.1:{closed}/")
    page.fill("input[name=training_key]", "some-key")
    page.click("text=Find projects")
    sync_api.expect(page.locator(".form-errors")).to_contain_text("Cannot reach 127.0.0.1")
    axe_check(page)
    screenshot("cv-import-connect-error")

    workspace = personal_workspace_ensure(user=owner)
    found = [{"id": str(uuid.uuid4()), "name": name, "type": kind, "classification_type": "Multilabel",
              "domain": "General", "images": n} for name, kind, n in (("Birds", "Classification", 120),
                                                                      ("Cutlery", "Object detection", 48))]
    waiting = ImportJob.objects.create(workspace=workspace, created_by=owner, endpoint="https://x.azure.com",
                                       training_key="k", found=found)
    page.goto(f"{base}/import/customvision/{waiting.id}/")
    sync_api.expect(page.locator("[data-testid=found-projects] tbody tr")).to_have_count(2)
    axe_check(page)
    screenshot("cv-import-pick")

    done = ImportJob.objects.create(
        workspace=workspace, created_by=owner, endpoint="https://x.azure.com", found=found, status="completed",
        selected=[found[0]["id"]], images_total=120, images_imported=117, images_present=0, images_failed=3,
        report=[{"level": "error", "text": "Image 1 skipped: the original could not be downloaded (404)."},
                {"level": "warning", "text": "Tag “Product” (GeneralProduct) is imported as a Regular tag."},
                {"level": "summary", "text": "“Birds” (new project): 117 images imported, 3 failed, 2 tags."},
                {"level": "note", "text": "Iterations are not carried."}])
    page.goto(f"{base}/import/customvision/{done.id}/")
    sync_api.expect(page.locator("[data-testid=import-counts]")).to_contain_text("117")
    axe_check(page)
    screenshot("cv-import-report")
