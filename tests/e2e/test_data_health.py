"""Browser: the Data Health page of a project with injected faults lists them; fix a tag, keep one of a cluster,
and the iteration page warns of the leakage."""

from __future__ import annotations

import pytest

from tests.health.datahealth_faults import faulty_project
from tests.health.test_datahealth import _check, _leaky_iteration

sync_api = pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_data_health_page_lists_the_injected_faults_and_fixes_them(  # type: ignore[no-untyped-def]
        page, live_server, owner, login_as, screenshot):
    from projects.models import Image

    faults = faulty_project(owner)
    leaky = _leaky_iteration(faults)
    _check(faults.project)
    login_as(owner)
    page.goto(f"{live_server.url}/projects/{faults.project.id}/")
    page.get_by_role("link", name="Data Health").click()
    expect = sync_api.expect
    expect(page.get_by_test_id("duplicate-cluster")).to_have_count(2)
    expect(page.get_by_test_id("leakage-pair")).to_have_count(1)
    expect(page.get_by_test_id("count-mislabels")).to_contain_text("2 likely mislabels")
    wrong = page.get_by_test_id("mislabel").first
    expect(wrong).to_contain_text("Hemlock")
    screenshot("data-health")

    wrong.get_by_test_id("fix-tag").click()  # htmx: the button becomes a confirmation, no reload
    expect(wrong).to_contain_text("Tagged")

    page.get_by_test_id("duplicate-cluster").first.get_by_test_id("keep-one").first.click()
    expect(page.get_by_role("heading", name="Keep one, delete 1 near-duplicate?")).to_be_visible()
    screenshot("data-health-keep-one")
    page.get_by_test_id("confirm-keep-one").click()
    expect(page.locator("#messages")).to_contain_text("deleted 1 near-duplicate")
    expect(page.get_by_test_id("duplicate-cluster")).to_have_count(1)
    assert Image.objects.filter(project=faults.project).count() == 21

    page.goto(f"{live_server.url}/iterations/{leaky.id}/")
    warning = page.get_by_test_id("leakage-warning")
    expect(warning).to_contain_text("1 near-duplicate pair is split across training and validation")
    screenshot("iteration-leakage-warning")
    warning.get_by_role("link").click()
    expect(page).to_have_url(f"{live_server.url}/projects/{faults.project.id}/health/#leakage")
