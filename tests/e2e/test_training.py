"""Browser: press Train, watch the progress bar move, read the metrics, move the threshold, open a confusion cell.

The portal is pytest-django's live_server; the training runs in a REAL Celery worker process
(tests/worker.py) that shares the file-based test database, the broker folder and the media dir.
"""

from __future__ import annotations

import time

import pytest

from tests.factories import DATASETS
from tests.training.builders import dataset_project
from tests.worker import celery_worker

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _engine_ready() -> bool:
    try:
        from training.ml import train  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.skipif(not _engine_ready(), reason="training.ml.train is not in the tree yet")
def test_train_watch_progress_and_explore_the_performance_tab(page, live_server, owner, login_as, tmp_path, screenshot):
    from training.models import Iteration

    project = dataset_project(owner, DATASETS / "azure-quickstart" / "classification", name="Trees")
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

        # Watch the bar (htmx swaps the body every second) until the results arrive.
        seen: list[str] = []
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            state = page.evaluate(
                "() => { const b = document.querySelector('#iteration-body');"
                " const p = document.querySelector('.progress');"
                " return [b && b.dataset.status, p ? p.getAttribute('aria-valuenow') : null,"
                " !!document.querySelector('#tag-table')]; }"
            )
            if state[1] is not None and (not seen or seen[-1] != state[1]):
                seen.append(state[1])
                if len(seen) == 2:
                    screenshot("train-02-progress")
            if state[2]:
                break
            page.wait_for_timeout(100)
        assert page.locator("#tag-table").is_visible(), f"no results; bar values seen: {seen}"
        assert len(seen) >= 2, f"the progress bar never moved: {seen}"
        assert page.get_attribute("#iteration-body", "data-status") == "Completed"
        assert page.get_attribute("#iteration-body", "hx-trigger") is None  # polling stopped
        screenshot("train-03-performance")

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
