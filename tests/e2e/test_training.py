"""Browser: press Train, watch the progress bar move, read the metrics, move the threshold, open a confusion cell.

The portal is pytest-django's live_server; the training runs in a REAL Celery worker process
(tests/worker.py) that shares the file-based test database, the broker folder and the media dir.
"""

from __future__ import annotations

import pytest

from tests.factories import DATASETS
from tests.training.builders import dataset_project
from tests.worker import celery_worker

VARIANTS = 5  # extra crops/flips of each photo: enough work (~120 images) for the bar to move between polls


def _with_variants(project):  # type: ignore[no-untyped-def]
    """Add distinct crops and flips of every photo, with its tags: the 20 in-repo photos alone train too fast
    (a second or two) for the page to see the bar between its polls. One pixel of each variant is drawn at random, so
    the worker's embedding cache (DATA_DIR/cache, kept between local runs) never holds them and the work is real."""
    import io
    import secrets

    from PIL import Image as PILImage
    from PIL import ImageOps

    from tests.training.builders import add_image

    nonce = tuple(secrets.token_bytes(3))
    for image in list(project.images.prefetch_related("tags")):
        with image.file.open("rb") as fh:
            photo = ImageOps.exif_transpose(PILImage.open(fh)).convert("RGB")
        w, h = photo.size
        for k in range(VARIANTS):
            crop = photo.crop((k * w // 40, k * h // 50, w - (VARIANTS - k) * w // 60, h - k * h // 45))
            if k % 2:
                crop = ImageOps.mirror(crop)
            crop.putpixel((0, 0), nonce)
            buf = io.BytesIO()
            crop.save(buf, format="JPEG", quality=90)
            add_image(project, tags=list(image.tags.all()), data=buf.getvalue())

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_train_watch_progress_and_explore_the_performance_tab(page, live_server, owner, login_as, tmp_path, screenshot):
    from training.models import Iteration

    project = dataset_project(owner, DATASETS / "azure-quickstart" / "classification", name="Trees")
    _with_variants(project)
    base = live_server.url
    with celery_worker(data_dir=tmp_path, hostname="e2e-train"):
        login_as(owner)
        page.goto(f"{base}/projects/{project.id}/")
        page.click("[data-testid=train]")  # the project's top bar → the Train dialog
        page.check("input[name=training_type][value=Regular]")
        screenshot("train-01-dialog")
        page.click("#train-button")
        page.wait_for_selector("#iteration-body")
        iteration = Iteration.objects.get(project=project)
        assert f"/iterations/{iteration.id}/" in page.url

        # Watch the bar (htmx swaps the body while training) until the results arrive: the page itself notes
        # each new value the bar shows, checked every 100 ms by Playwright's waiting function.
        watch = """stop => {
            const seen = (window.barValues ||= []);
            const bar = document.querySelector('.progress');
            const value = bar && bar.getAttribute('aria-valuenow');
            if (value !== null && value !== undefined && seen[seen.length - 1] !== value) seen.push(value);
            return !!document.querySelector('#tag-table') || (stop > 0 && seen.length >= stop);
        }"""  # stop = 0: only the results end the wait
        page.wait_for_function(watch, arg=2, polling=100, timeout=240_000)
        if page.evaluate("window.barValues.length") >= 2:
            screenshot("train-02-progress")
        page.wait_for_function(watch, arg=0, polling=100, timeout=240_000)
        seen = page.evaluate("window.barValues")
        assert len(seen) >= 2, f"the progress bar never moved: {seen}"
        assert page.get_attribute("#iteration-body", "data-status") == "Completed"
        assert page.get_attribute("#iteration-body", "hx-trigger") is None  # polling stopped
        screenshot("train-03-performance")
        # 60 images a tag: trained on each image as it is (training.ml.classification.training_views), and it says so.
        assert "every tag has 30 images or more" in page.inner_text("#iteration-body")

        rows = page.locator("#tag-table tbody tr")
        tags = sorted(rows.nth(i).get_attribute("data-tag") for i in range(rows.count()))
        assert tags == ["Hemlock", "Japanese Cherry"]
        before = page.inner_text("#overall-precision")

        # The threshold slider: at 0 every tag is predicted for every image, so precision falls to 50 %.
        page.fill("#threshold", "0")
        page.wait_for_function("() => document.querySelector('#performance-results').dataset.threshold === '0.0'")
        after = page.inner_text("#overall-precision")
        assert after == "50.0%" and after != before, (before, after)
        assert page.input_value("#threshold") == "0"  # no reload: the slider kept its place
        screenshot("train-04-threshold")

        # A confusion-matrix cell opens the images behind it.
        cell = page.locator("#confusion td a").first
        count = int(cell.inner_text())
        cell.click()
        page.wait_for_selector(".gallery")
        assert page.locator(".err-card").count() == count
        screenshot("train-05-confusion-cell")


def test_advanced_training_tries_recipes_and_shows_them_beside_quick(page, live_server, owner, login_as, tmp_path,
                                                                     screenshot):
    """Advanced classification through the Train dialog and a real worker: the recipes it tried, which one it
    delivered, and quick vs advanced on the same validation images, as the iteration page shows them."""
    from training.models import Iteration

    project = dataset_project(owner, DATASETS / "azure-quickstart" / "classification", name="Trees")
    base = live_server.url
    with celery_worker(data_dir=tmp_path, hostname="e2e-advanced"):
        login_as(owner)
        page.goto(f"{base}/projects/{project.id}/")
        page.click("[data-testid=train]")
        page.check("input[name=training_type][value=Advanced]")
        assert "a larger network" in page.inner_text("#train-form")
        page.fill("input[name=budget_minutes]", "10")
        page.click("#train-button")
        page.wait_for_selector("#iteration-body")
        page.wait_for_selector("#iteration-body[data-status=Completed]", timeout=300_000)
        iteration = Iteration.objects.get(project=project)
        metrics = iteration.metrics
        tried = page.locator("#recipe-search tbody tr")
        labels = [tried.nth(i).locator("td").first.inner_text() for i in range(tried.count())]
        assert labels == [r["recipe"] for r in metrics["comparison"]["recipes"]]
        assert labels[0] == "EfficientNet-Lite0 at 288 px, centre crop, GeM pooling (unclipped)" and len(labels) == 4
        assert page.locator("#recipe-search strong", has_text="chosen").count() == 1
        body = page.inner_text("#iteration-body")
        assert "Advanced training compared 4 recipes" in body
        delivered = page.locator("#mode-comparison tr", has=page.locator("strong", has_text="delivered"))
        assert delivered.get_attribute("data-mode") == metrics["mode_delivered"]
        assert f"EfficientNet-{metrics['backbone'].capitalize()} at {metrics['image_size']} px" in body
        page.locator("#recipe-search").scroll_into_view_if_needed()
        screenshot("train-06-advanced-recipes")
