"""Browser: the Smart Labeler. Suggested tags computed by a REAL Celery worker (tests/worker.py) and a whole group
confirmed from the keyboard; then a detection image opened in the labeler with proposed boxes pre-drawn (dashed),
one accepted with Enter (a real region, handles to adjust) and one rejected with Delete."""

from __future__ import annotations

import pytest

from tests.factories import DATASETS, make_project, make_tag
from tests.health.test_suggestions import untagged_crops
from tests.predictions.builders import trained_quickstart
from tests.training.builders import add_image
from tests.worker import celery_worker

sync_api = pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_confirm_a_group_of_suggested_tags_and_accept_a_proposed_box(  # type: ignore[no-untyped-def]
    page, live_server, owner, login_as, tmp_path, screenshot
):
    from health.suggestions_models import Suggestion, SuggestionRun
    from labeling.models import Region
    from labeling.proposals import proposals_for

    project, iteration = trained_quickstart(owner)
    images = untagged_crops(project, 5)
    base = live_server.url
    login_as(owner)
    with celery_worker(data_dir=tmp_path, hostname="e2e-suggest"):
        page.goto(f"{base}/projects/{project.id}/")
        page.click("[data-testid=suggested-tags]")
        page.click("[data-testid=run-suggestions]")
        # The worker fills the suggestions; the page polls its progress and then shows the groups.
        page.wait_for_selector("[data-testid=suggest-group]", timeout=120_000)
    run = SuggestionRun.objects.get(iteration=iteration)
    assert (run.status, run.done, run.total) == ("done", 5, 5)
    assert page.get_attribute("#suggestions-body", "hx-trigger") is None  # polling stopped
    screenshot("smart-labeler-01-groups")

    group = page.locator("[data-testid=suggest-group]").first
    tag_name = group.get_attribute("data-tag-name")
    ids = [group.locator("[data-testid=suggest-card]").nth(i).get_attribute("data-image-id")
           for i in range(group.locator("[data-testid=suggest-card]").count())]
    confidences = [float(group.locator("[data-testid=suggest-card]").nth(i).get_attribute("data-confidence"))
                   for i in range(len(ids))]
    assert confidences == sorted(confidences)  # most uncertain first
    # Keyboard: the first card has focus; Shift+Enter confirms its whole group.
    sync_api.expect(page.locator(".suggest-card.focused")).to_have_count(1)
    page.keyboard.press("Shift+Enter")
    sync_api.expect(page.locator("#messages")).to_contain_text(f"Tagged {len(ids)} image")
    tagged = {str(i.id): [t.name for t in i.tags.all()] for i in project.images.filter(id__in=ids)}
    assert tagged == {i: [tag_name] for i in ids}
    assert not Suggestion.objects.filter(image_id__in=ids).exists()
    sync_api.expect(page.locator(f"[data-testid=suggest-group][data-tag-name='{tag_name}']")).to_have_count(0)
    left = 5 - len(ids)
    assert left > 0  # the other tag's group is still there, untouched
    sync_api.expect(page.locator("[data-testid=suggest-card]")).to_have_count(left)
    assert not project.images.filter(id__in=[c.get_attribute("data-image-id") for c in
                                             page.locator("[data-testid=suggest-card]").all()], tags__isnull=False)
    screenshot("smart-labeler-02-confirmed")
    assert {str(i.id) for i in images} >= set(ids)

    # Detection without a trained detector: the generic proposals, pre-drawn dashed.
    detector_project = make_project(owner, name="Raccoons", project_type="detection")
    raccoon = make_tag(detector_project, "raccoon")
    image = add_image(detector_project, data=(DATASETS / "raccoon" / "images" / "raccoon-1.jpg").read_bytes())
    expected = proposals_for(image=image)
    shown = min(len(expected), 8)  # the labeler pre-draws the 8 most confident
    assert shown >= 2
    page.goto(f"{base}/images/{image.id}/label/")
    page.wait_for_selector("#labeler[data-proposals-ready=true]")
    sync_api.expect(page.locator(".proposal")).to_have_count(shown)
    sync_api.expect(page.locator(".proposal.focused")).to_have_count(1)
    sync_api.expect(page.locator("[data-testid=proposal-hint]")).to_be_visible()
    assert page.locator(".proposal").first.evaluate("el => getComputedStyle(el).borderTopStyle") == "dashed"
    screenshot("smart-labeler-03-proposals")
    page.keyboard.press("1")  # new boxes get "raccoon" (the fast tagger's hotkeys)
    page.keyboard.press("Enter")  # accept the highlighted (most confident) proposal
    sync_api.expect(page.locator("#save-status")).to_have_attribute("data-state", "saved")
    region = Region.objects.get(image=image)
    best = expected[0]
    assert region.tag_id == raccoon.id
    for k in ("left", "top", "width", "height"):
        assert abs(getattr(region, k) - getattr(best, k)) < 1e-4, k
    sync_api.expect(page.locator(".box.selected .handle")).to_have_count(8)  # the usual handles adjust it
    sync_api.expect(page.locator(".proposal")).to_have_count(shown - 1)
    page.keyboard.press("Escape")  # leave the new box; Delete now rejects the highlighted proposal
    page.keyboard.press("Delete")
    sync_api.expect(page.locator(".proposal")).to_have_count(shown - 2)
    assert Region.objects.filter(image=image).count() == 1
    screenshot("smart-labeler-04-accepted")


def test_get_suggestions_works_without_javascript(browser, live_server, owner, login_as):  # type: ignore[no-untyped-def]
    """The button is a plain POST form with its CSRF token: without htmx (or before htmx has wired it) it starts the
    run and comes back to the page, which shows it."""
    from health.suggestions_models import SuggestionRun

    project, _ = trained_quickstart(owner)
    untagged_crops(project, 2)
    context = browser.new_context(java_script_enabled=False)
    try:
        page = login_as(owner, on=context.new_page())
        page.goto(f"{live_server.url}/projects/{project.id}/suggestions/")
        page.click("[data-testid=run-suggestions]")
        page.wait_for_selector("[data-testid=run-status]")
        assert "/suggestions" in page.url and "Forbidden" not in page.content()
        assert SuggestionRun.objects.filter(iteration__project=project).count() == 1
    finally:
        context.close()
