"""Browser: reviewing a stored detection prediction with many weak candidates: the boxes above the threshold are
listed, the rest wait behind "Show N below threshold", and the slider moves rows between the two."""

from __future__ import annotations

import pytest

from tests.factories import make_image_bytes, make_project, make_tag

sync_api = pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_only_boxes_above_the_threshold_are_listed_the_rest_on_demand(  # type: ignore[no-untyped-def]
        page, live_server, owner, login_as, screenshot):
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from predictions.models import StoredPrediction  # the predictions app may move it

    project = make_project(owner, name="Forks", project_type="detection")
    make_tag(project, "fork")
    name = default_storage.save(f"projects/{project.id}/predictions/x/original.jpg",
                                ContentFile(make_image_bytes(size=(400, 300), fmt="JPEG")))
    probabilities = [round(0.99 - i * 0.98 / 150, 4) for i in range(151)]  # 99 % down to 1 %, as a detector gives
    boxes = [{"tag": "fork", "probability": p, "box": {"left": (i % 10) / 12, "top": (i // 10) / 16, "width": 0.08,
                                                       "height": 0.06}} for i, p in enumerate(probabilities)]
    stored = StoredPrediction.objects.create(project=project, file=name, thumbnail=name, predictions=boxes,
                                             top_tag="fork", top_probability=0.99, uncertainty=0.02, width=400,
                                             height=300)
    above = sum(p >= 0.5 for p in probabilities)
    login_as(owner)
    page.goto(f"{live_server.url}/predictions/{stored.id}/")
    rows = page.locator(".pd-form tr[data-box-row]")
    sync_api.expect(rows).to_have_count(151)  # all in the form (a box can still be ticked back)
    assert page.locator(".pd-form tr[data-box-row]:visible").count() == above
    summary = page.locator(".pd-below summary")
    sync_api.expect(summary).to_have_text(f"Show {151 - above} below threshold")
    screenshot("prediction-review-detection")
    summary.click()
    assert page.locator(".pd-form tr[data-box-row]:visible").count() == 151
    summary.click()

    page.locator("[data-box-slider]").fill("0.9")  # the slider moves rows between the lists
    kept = sum(p >= 0.9 for p in probabilities)
    assert page.locator(".pd-form tr[data-box-row]:visible").count() == kept
    sync_api.expect(summary).to_have_text(f"Show {151 - kept} below threshold")
    assert page.locator("input[data-keep]:checked").count() == kept
    page.click("[data-testid=add-to-training]")
    page.wait_for_url(f"{live_server.url}/projects/{project.id}/predictions/**")
    assert project.images.get().regions.count() == kept
