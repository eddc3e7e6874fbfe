"""Browser: Quick Test a trained classifier, then close the loop — a prediction-endpoint image found in the
Predictions tab, tagged, added to training, and the training-image count goes up. Plus the detection slider."""

from __future__ import annotations

import os
import urllib.request
from typing import Any

import pytest

from tests.predictions.builders import trained_quickstart

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]
SHOTS = os.environ.get("TAGSIGHT_SHOTS_DIR", "")


def _shot(page: Any, name: str) -> None:
    if SHOTS:
        os.makedirs(SHOTS, exist_ok=True)
        page.screenshot(path=os.path.join(SHOTS, f"{name}.png"), full_page=True)


def _all_count(page: Any) -> int:
    return int(page.locator("label:has(input[name=filter][value=all]) .count").inner_text())


def test_quick_test_then_prediction_to_training(live_server, logged_in_page, owner) -> None:  # type: ignore[no-untyped-def]
    from django.conf import settings

    from workspaces.services import personal_keys

    page = logged_in_page
    project, iteration = trained_quickstart(owner, publish_name="treesModel")
    page.goto(f"{live_server.url}/projects/{project.id}/")
    before = _all_count(page)

    # Quick Test from the top bar; a shipped sample; Hemlock on top, with the time it took.
    page.click("[data-testid=quick-test]")
    page.wait_for_selector("#qt-drop")
    page.click("[data-testid='sample-hemlock-test.jpg']")
    page.wait_for_selector("[data-testid=qt-bars]")
    assert page.locator("[data-testid=qt-bars] tbody tr").first.get_attribute("data-tag") == "Hemlock"
    assert " ms" in page.locator("[data-testid=qt-timing]").inner_text()
    _shot(page, "quick-test-classification")

    # A file chosen through the file picker works the same way.
    page.set_input_files("#qt-file", str(settings.BASE_DIR / "static/predictions/samples/japanese-cherry.jpg"))
    page.wait_for_function("document.querySelector('#qt-result h2')?.textContent.includes('japanese')")
    assert page.locator("[data-testid=qt-bars] tbody tr").first.get_attribute("data-tag") == "Japanese Cherry"
    # A bad URL: a clear message, no crash.
    page.fill("#qt-url", "http://169.254.169.254/latest/meta-data")
    page.click("#qt-url-go")
    page.wait_for_selector("[data-testid=qt-error]")
    assert "non-public" in page.locator("[data-testid=qt-error]").inner_text()

    # An image sent to the published iteration's prediction URL, with the Prediction key.
    key = personal_keys(user=owner).prediction_key
    data = (settings.BASE_DIR / "static/predictions/samples/japanese-cherry.jpg").read_bytes()
    request = urllib.request.Request(
        f"{live_server.url}/customvision/v3.0/Prediction/{project.id}/classify/iterations/treesModel/image"
        "?application=e2e",
        data=data, method="POST",
        headers={"Prediction-Key": key, "Content-Type": "application/octet-stream"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - the live test server
        assert response.status == 200

    # The Predictions tab lists it; open it, tag it, add it to training.
    page.click("nav.tabs >> text=Predictions")
    page.wait_for_selector("[data-testid=prediction-tile]")
    _shot(page, "predictions-tab")
    page.click("[data-testid=prediction-tile]:has-text('e2e') a")
    page.wait_for_selector("[data-testid=add-to-training]")
    _shot(page, "prediction-detail")
    page.check("input[name=tags] >> nth=1")  # the radio of "Japanese Cherry" (tags sorted by name)
    page.click("[data-testid=add-to-training]")
    page.wait_for_url(f"{live_server.url}/projects/{project.id}/predictions/**")
    assert "Added to training images" in page.content()

    page.click("nav.tabs >> text=Training Images")
    page.wait_for_selector("input[name=filter][value=all]")
    assert _all_count(page) == before + 1

    # The iteration page shows how to call it and offers the export.
    page.goto(f"{live_server.url}/iterations/{iteration.id}/")
    page.wait_for_selector("[data-testid=prediction-url]")
    assert key in page.locator("[data-testid=prediction-url]").inner_text()
    assert page.locator("[data-testid=export-onnx]").is_visible()
    _shot(page, "iteration-prediction-panels")


def test_detection_boxes_hide_under_the_slider(live_server, logged_in_page, owner) -> None:  # type: ignore[no-untyped-def]
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from predictions.models import StoredPrediction
    from tests.factories import make_image_bytes, make_project, make_tag

    page = logged_in_page
    project = make_project(owner, name="Forks", project_type="detection")
    make_tag(project, "fork")
    name = default_storage.save(f"projects/{project.id}/predictions/x/original.jpg",
                                ContentFile(make_image_bytes(size=(400, 300), fmt="JPEG")))
    boxes = [{"tag": "fork", "probability": p, "box": {"left": 0.1 * i, "top": 0.1, "width": 0.3, "height": 0.4}}
             for i, p in enumerate((0.92, 0.61, 0.3, 0.05))]
    stored = StoredPrediction.objects.create(project=project, file=name, thumbnail=name, predictions=boxes,
                                             top_tag="fork", top_probability=0.92, uncertainty=0.16, width=400,
                                             height=300)
    page.goto(f"{live_server.url}/predictions/{stored.id}/")
    page.wait_for_selector(".pbox")
    assert page.locator(".pbox:visible").count() == 2  # 50 % by default
    page.locator("[data-box-slider]").fill("0.2")
    assert page.locator(".pbox:visible").count() == 3
    assert page.locator("input[data-keep]:checked").count() == 3
    page.locator("[data-box-slider]").fill("0.95")
    assert page.locator(".pbox:visible").count() == 0
    page.locator("[data-box-slider]").fill("0.6")
    _shot(page, "prediction-detail-detection")
    page.click("[data-testid=add-to-training]")
    page.wait_for_url(f"{live_server.url}/projects/{project.id}/predictions/**")
    assert project.images.count() == 1 and project.images.get().tags.count() == 1


def test_quick_test_detection_draws_boxes_with_a_live_slider(live_server, logged_in_page, owner,
                                                             tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.predictions.builders import tiny_fork_detector

    page = logged_in_page
    project, _ = tiny_fork_detector(owner, tmp_path)
    page.goto(f"{live_server.url}/projects/{project.id}/quicktest")
    page.click("[data-testid='sample-fork-test.jpg']")
    page.wait_for_selector("#qt-result .boxes-stage img")
    total = page.locator("#qt-result .pbox").count()
    assert total > 0
    page.locator("[data-box-slider]").fill("0")
    assert page.locator("#qt-result .pbox:visible").count() == total
    assert f"{total} box" in page.locator("[data-box-count]").inner_text()
    page.locator("[data-box-slider]").fill("1")
    assert page.locator("#qt-result .pbox:visible").count() == 0
    page.locator("[data-box-slider]").fill("0.1")
    _shot(page, "quick-test-detection")
