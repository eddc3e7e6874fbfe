"""Per-tag thresholds for multilabel classification (training.ml.thresholds), on hand-made validation rows."""

from __future__ import annotations

from typing import Any

import numpy as np

from training.ml.thresholds import (
    DEFAULT,
    choose_thresholds,
    cross_fitted_exact_match,
    exact_match,
    threshold_report,
)

TAGS = ("cat", "dog", "rare")


def _rows(probs: np.ndarray, truth: np.ndarray) -> list[dict[str, Any]]:
    return [
        {"id": f"img-{i:03d}", "tags": [t for j, t in enumerate(TAGS) if truth[i, j]],
         "predictions": [{"tag": t, "probability": float(probs[i, j])} for j, t in enumerate(TAGS)]}
        for i in range(len(probs))
    ]


def _separable_but_miscalibrated(n: int = 60, seed: int = 0) -> list[dict[str, Any]]:
    """cat is calibrated; dog's scores run high (negatives near 0.6); the rare tag's positives score ~0.3."""
    rng = np.random.default_rng(seed)
    truth = rng.random((n, 3)) < [0.5, 0.5, 0.15]
    probs = np.where(truth, [0.8, 0.9, 0.3], [0.2, 0.6, 0.05]) + rng.uniform(-0.08, 0.08, (n, 3))
    return _rows(probs, truth)


def test_each_tag_gets_the_threshold_its_scores_need() -> None:
    rows = _separable_but_miscalibrated()
    chosen = choose_thresholds(TAGS, rows)
    assert 0.28 < chosen["cat"] < 0.72  # calibrated: anything between the two clouds, nearest 0.5
    assert 0.68 < chosen["dog"] < 0.82  # above its negatives' 0.6
    assert 0.13 < chosen["rare"] < 0.22  # below 0.5: its positives never reach it
    assert exact_match(TAGS, rows, DEFAULT) < 0.5
    assert exact_match(TAGS, rows, chosen) == 1.0
    assert cross_fitted_exact_match(TAGS, rows) == 1.0  # the signal is real: thresholds chosen elsewhere hold
    report = threshold_report(TAGS, rows)
    assert report["kept"] and report["per_tag"] == chosen


def test_thresholds_that_do_not_beat_one_half_on_rows_they_were_not_chosen_on_are_not_delivered() -> None:
    rng = np.random.default_rng(0)
    truth = rng.random((60, 3)) < 0.5
    probs = np.where(truth, 0.7, 0.3) + rng.uniform(-0.25, 0.25, (60, 3))  # calibrated: 0.5 is every tag's best cut
    rows = _rows(probs, truth)
    assert choose_thresholds(TAGS, rows) != {t: DEFAULT for t in TAGS}  # fitted to these rows' noise
    report = threshold_report(TAGS, rows)
    assert report["exact_match"] <= report["exact_match_at_default"]
    assert not report["kept"] and report["per_tag"] == {t: DEFAULT for t in TAGS}


def test_the_reported_figure_is_not_flattered_by_choosing_on_the_same_rows() -> None:
    rng = np.random.default_rng(3)
    truth = rng.random((80, 3)) < 0.4
    rows = _rows(rng.random((80, 3)), truth)  # scores carry no information at all
    in_sample = exact_match(TAGS, rows, choose_thresholds(TAGS, rows))
    honest = cross_fitted_exact_match(TAGS, rows)
    assert honest < in_sample
    assert threshold_report(TAGS, rows)["exact_match"] == honest


def test_a_tag_without_both_kinds_of_example_keeps_the_default_and_ties_go_to_it() -> None:
    truth = np.array([[1, 0, 0], [1, 1, 0], [0, 1, 0], [1, 0, 0]], dtype=bool)
    probs = np.array([[0.9, 0.1, 0.7], [0.9, 0.9, 0.1], [0.1, 0.9, 0.4], [0.9, 0.1, 0.2]])
    chosen = choose_thresholds(TAGS, _rows(probs, truth))
    assert chosen["rare"] == DEFAULT  # no positive example: nothing to choose from
    assert chosen["cat"] == DEFAULT and chosen["dog"] == DEFAULT  # every cut between 0.1 and 0.9 is perfect
    assert all(0 < t < 1 for t in choose_thresholds(TAGS, _rows(probs * 0, truth)).values())
