"""Browser: Import dataset on the Training Images page: upload a COCO zip of real photos, read the preview (what will
be created, one line per problem), confirm, and find the images in the grid."""

from __future__ import annotations

import json

import pytest

from tests.datasets.formats.helpers import zip_of
from tests.e2e.conftest import sign_in
from tests.factories import DATASETS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _coco_zip(tmp_path):
    manifest = json.loads((DATASETS / "raccoon" / "manifest.json").read_text())
    names = sorted(manifest["images"])[:3]
    doc = {"images": [], "annotations": [], "categories": [{"id": 1, "name": "raccoon"}]}
    files: dict[str, bytes | str] = {}
    for n, path in enumerate(names, start=1):
        info = manifest["images"][path]
        w, h = info["width"], info["height"]
        doc["images"].append({"id": n, "file_name": path.split("/")[-1], "width": w, "height": h})
        files[f"images/{path.split('/')[-1]}"] = (DATASETS / "raccoon" / path).read_bytes()
        for r in info["regions"]:
            doc["annotations"].append({"id": len(doc["annotations"]) + 1, "image_id": n, "category_id": 1,
                                       "bbox": [r["left"] * w, r["top"] * h, r["width"] * w, r["height"] * h]})
    doc["annotations"][0]["bbox"][2] += 500  # runs past the right edge: clipped, with a warning
    doc["images"].append({"id": 99, "file_name": "lost raccoon.jpg", "width": 10, "height": 10})  # not in the zip
    files["annotations.json"] = json.dumps(doc)
    out = tmp_path / "raccoons coco.zip"
    out.write_bytes(zip_of(files))
    return out


def test_upload_preview_confirm(page, live_server, owner, screenshot, tmp_path):
    from labeling.models import Region
    from projects.models import Image, Project
    from tests.factories import make_project

    project = make_project(owner, name="Raccoons", project_type=Project.ProjectType.DETECTION)
    sign_in(page, live_server.url, "owner", "owner-pass-123")
    page.goto(f"{live_server.url}/projects/{project.id}/")
    page.click("[data-testid=import-dataset]")
    page.select_option("select[name=format]", "coco")
    page.set_input_files("input[name=file]", str(_coco_zip(tmp_path)))
    screenshot("dataset-import-form")
    page.click("[data-testid=import-preview]")
    page.wait_for_selector("[data-testid=import-ready]")
    summary = page.inner_text("[data-testid=import-summary]")
    assert "3 image(s) to create: 3 tagged, 0 untagged, 3 box(es)." in summary
    assert "1 new tag(s): raccoon." in summary
    problems = page.inner_text("[data-testid=import-problems]")
    assert "lost raccoon.jpg: is named in the COCO file but is not in the zip" in problems
    assert "a 'raccoon' box runs past the image edge; it is clipped to the image." in problems
    screenshot("dataset-import-preview")
    assert not Image.objects.filter(project=project).exists()  # nothing written before the confirmation

    page.click("[data-testid=import-confirm]")
    page.wait_for_selector("[data-testid=image-grid] .thumb")
    assert page.locator("[data-testid=image-grid] .thumb").count() == 3
    assert "Imported 3 images, 3 boxes and 1 new tag" in page.inner_text("#messages")
    screenshot("dataset-import-done")
    assert Region.objects.filter(image__project=project).count() == 3
    assert max(r.left + r.width for r in Region.objects.filter(image__project=project)) <= 1.0

    page.click("[data-testid=export-dataset]")
    page.wait_for_selector("[data-testid=dataset-export]")
    screenshot("dataset-export-form")
    page.select_option("select[name=format]", "yolo")
    with page.expect_download() as download:
        page.click("[data-testid=export-download]")
    assert download.value.suggested_filename == "raccoons-yolo.zip"
