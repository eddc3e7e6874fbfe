"""A multilabel iteration's per-tag thresholds (chosen on validation at training) in the portal: the iteration
page lists them with the exact-set match they give, and predictions mark each tag at its own threshold."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from tests.training.builders import completed_iteration, tagged_project

pytestmark = pytest.mark.django_db

THRESHOLDS = {"Cherry": 0.25, "Hemlock": 0.7}


@pytest.fixture
def multilabel(owner):  # type: ignore[no-untyped-def]
    from training.models import Iteration

    project = tagged_project(owner, classification_type="Multilabel")
    iteration = completed_iteration(project, owner=owner)
    metrics = {**iteration.metrics, "multilabel": True, "thresholds": {
        "per_tag": THRESHOLDS, "exact_match": 0.75, "exact_match_at_default": 0.5, "method": "per-tag F1"}}
    Iteration.objects.filter(id=iteration.id).update(metrics=metrics)
    iteration.refresh_from_db()
    return project, iteration


def _prediction(project: Any, iteration: Any, probabilities: dict[str, float]) -> Any:
    from predictions.models import StoredPrediction

    preds = [{"tag": t, "probability": p, "box": None} for t, p in sorted(probabilities.items(), key=lambda x: -x[1])]
    return StoredPrediction.objects.create(project=project, iteration=iteration, file="x.jpg", predictions=preds,
                                           top_tag=preds[0]["tag"], top_probability=preds[0]["probability"])


def test_the_iteration_page_lists_each_tags_threshold_and_the_exact_set_match(owner_client, multilabel):  # type: ignore[no-untyped-def]
    project, iteration = multilabel
    html = owner_client.get(reverse("training:iteration-detail", args=[iteration.id])).content.decode()
    assert "<th>Threshold</th>" in html and 'id="tag-thresholds-note"' in html
    assert "75.0% at the per-tag thresholds" in html and "50.0% at 50%" in html
    row = html[html.index('data-tag="Cherry"'):]
    assert '<td class="num">25%</td>' in row[: row.index("</tr>")]


def test_a_prediction_marks_each_tag_at_its_own_threshold(owner_client, multilabel):  # type: ignore[no-untyped-def]
    from projects.models import Tag

    project, iteration = multilabel
    cherry, hemlock = (Tag.objects.get(project=project, name=n) for n in ("Cherry", "Hemlock"))
    # Cherry 0.3 is under 50% but over its own 25%; Hemlock 0.6 is over 50% but under its own 70%.
    prediction = _prediction(project, iteration, {"Cherry": 0.3, "Hemlock": 0.6})
    html = owner_client.get(reverse("predictions:prediction-detail", args=[prediction.id])).content.decode()
    assert f'value="{cherry.id}" checked' in html and f'value="{hemlock.id}" checked' not in html
    assert "each tag at its own threshold" in html and "threshold 25%" in html
    # An explicit threshold (the page's own control) still applies to every tag alike.
    at_half = owner_client.get(reverse("predictions:prediction-detail", args=[prediction.id]), {"threshold": "50"})
    assert f'value="{hemlock.id}" checked' in at_half.content.decode()
    assert f'value="{cherry.id}" checked' not in at_half.content.decode()


def test_a_single_label_project_ignores_thresholds(owner_client, owner):  # type: ignore[no-untyped-def]
    from training.models import Iteration

    project = tagged_project(owner)
    iteration = completed_iteration(project, owner=owner)
    metrics = {**iteration.metrics, "thresholds": {"per_tag": THRESHOLDS}}
    Iteration.objects.filter(id=iteration.id).update(metrics=metrics)
    html = owner_client.get(reverse("training:iteration-detail", args=[iteration.id])).content.decode()
    assert "<th>Threshold</th>" not in html
    prediction = _prediction(project, iteration, {"Cherry": 0.3, "Hemlock": 0.7})
    detail = owner_client.get(reverse("predictions:prediction-detail", args=[prediction.id])).content.decode()
    assert "own threshold" not in detail


def test_thresholds_that_did_not_beat_one_half_leave_every_tag_at_one_half(owner_client, multilabel):  # type: ignore[no-untyped-def]
    from projects.models import Tag
    from training.models import Iteration

    project, iteration = multilabel
    metrics = {**iteration.metrics, "thresholds": {"per_tag": {"Cherry": 0.5, "Hemlock": 0.5}, "kept": False,
                                                   "exact_match": 0.6, "exact_match_at_default": 0.7, "method": "…"}}
    Iteration.objects.filter(id=iteration.id).update(metrics=metrics)
    html = owner_client.get(reverse("training:iteration-detail", args=[iteration.id])).content.decode()
    assert "Every tag keeps 50%" in html and "60.0% of them" in html and "no better than 70.0% at 50%" in html
    cherry = Tag.objects.get(project=project, name="Cherry")
    prediction = _prediction(project, iteration, {"Cherry": 0.3, "Hemlock": 0.6})
    html = owner_client.get(reverse("predictions:prediction-detail", args=[prediction.id])).content.decode()
    assert f'value="{cherry.id}" checked' not in html and "each tag at its own threshold" not in html
