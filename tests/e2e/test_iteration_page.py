"""Browser: the iteration page of a Completed iteration (metrics stored, no training run): the threshold slider,
Publish, and the Prediction URL snippets."""

from __future__ import annotations

import pytest

from tests.training.builders import completed_iteration, tagged_project

sync_api = pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def iteration(owner):  # type: ignore[no-untyped-def]
    return completed_iteration(tagged_project(owner, per_tag=5, name="Trees"), owner=owner)


def test_the_threshold_slider_keeps_the_console_clean(page, live_server, owner, login_as, iteration):  # type: ignore[no-untyped-def]
    console: list[str] = []
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
    login_as(owner)
    page.goto(f"{live_server.url}/iterations/{iteration.id}/")
    page.focus("#threshold")
    for _ in range(12):  # held arrow key: a request per step while the previous ones are still under way
        page.keyboard.press("ArrowLeft", delay=5)
    sync_api.expect(page.locator("#performance-results")).to_have_attribute("data-threshold", "0.38")
    page.wait_for_load_state("networkidle")
    assert page.input_value("#threshold") == "0.38"
    assert not console, console
