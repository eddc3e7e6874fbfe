"""Per-tag probability thresholds for multilabel classification, chosen on the validation predictions.

One threshold (0.5) for every tag assumes every tag's scores are calibrated alike; they are not: a rare tag's
sigmoid rarely reaches 0.5, a common one passes it on negatives too, and the exact-set match (every tag of an
image right) suffers most. Each tag gets the threshold that maximises its F1 on the out-of-fold validation
predictions (ties go to the candidate nearest 0.5; a tag without positive or negative examples keeps 0.5).

Choosing thresholds on the rows you then score them on flatters them, so the figure reported beside them is
cross-fitted: the validation rows are dealt into folds (by image id, deterministic), each fold is scored with
thresholds chosen on the other folds. The delivered thresholds are then chosen on every row, and delivered only
where they earn it: when that cross-fitted exact-set match does not beat 0.5 for every tag (a calibrated model, a
small validation split: the chosen thresholds would fit its noise), every tag keeps 0.5 and the report says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from training.ml.metrics import classification_matrices

DEFAULT = 0.5
LOWEST, HIGHEST = 0.02, 0.98  # never "always" or "never": a threshold outside these says the tag has no signal
CROSS_FIT_FOLDS = 5


def _best_threshold(scores: np.ndarray, positive: np.ndarray) -> float:
    """The F1-maximising threshold of one tag (midpoints between distinct scores; ties nearest DEFAULT)."""
    if not positive.any() or positive.all():
        return DEFAULT
    distinct = np.unique(scores)
    candidates = np.unique(np.clip(np.concatenate([(distinct[:-1] + distinct[1:]) / 2, [DEFAULT]]), LOWEST, HIGHEST))
    predicted = scores[None, :] >= candidates[:, None]
    tp = (predicted & positive).sum(axis=1)
    f1 = 2 * tp / (predicted.sum(axis=1) + positive.sum())
    best = np.flatnonzero(f1 >= f1.max() - 1e-12)
    return float(candidates[best[np.argmin(np.abs(candidates[best] - DEFAULT))]])


def choose_thresholds(tags: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """Each tag's F1-optimal threshold on ``rows`` (validation predictions: ``tags`` and ``predictions``)."""
    probs, truth = classification_matrices(tags, rows)
    return {t: round(_best_threshold(probs[:, j], truth[:, j]), 6) for j, t in enumerate(tags)}


def exact_match(tags: Sequence[str], rows: Sequence[Mapping[str, Any]],
                thresholds: float | Mapping[str, float]) -> float:
    """Fraction of rows whose predicted tag set (probability >= its tag's threshold) equals the true set."""
    if not rows:
        return 0.0
    probs, truth = classification_matrices(tags, rows)
    cut = np.array([thresholds if isinstance(thresholds, float) else thresholds.get(t, DEFAULT) for t in tags])
    return float(np.mean(np.all((probs >= cut) == truth, axis=1)))


def cross_fitted_exact_match(tags: Sequence[str], rows: Sequence[Mapping[str, Any]],
                             folds: int = CROSS_FIT_FOLDS) -> float:
    """Exact-set match when each row is judged by thresholds chosen without it (see the module docstring)."""
    ordered = sorted(rows, key=lambda r: str(r["id"]))
    k = min(folds, len(ordered))
    if k < 2:
        return exact_match(tags, ordered, DEFAULT)
    hits = 0.0
    for f in range(k):
        held = ordered[f::k]
        rest = [r for i, r in enumerate(ordered) if i % k != f]
        hits += exact_match(tags, held, choose_thresholds(tags, rest)) * len(held)
    return hits / len(ordered)


def threshold_report(tags: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """What training stores for a multilabel iteration: the per-tag thresholds and what they are worth.

    ``exact_match`` is the cross-fitted figure of choosing per-tag thresholds, ``exact_match_at_default`` the figure
    at 0.5; ``kept`` says whether the chosen thresholds beat 0.5 and are delivered (``per_tag``) or every tag keeps
    0.5 (``per_tag`` all 0.5)."""
    honest, at_default = cross_fitted_exact_match(tags, rows), exact_match(tags, rows, DEFAULT)
    kept = honest > at_default
    return {
        "per_tag": choose_thresholds(tags, rows) if kept else {t: DEFAULT for t in tags},
        "kept": kept,
        "exact_match": honest,
        "exact_match_at_default": at_default,
        "method": f"per-tag F1-optimal threshold on the validation predictions, kept where its exact-set match, "
        f"cross-fitted over {CROSS_FIT_FOLDS} folds of them, beats 0.5 for every tag",
    }
