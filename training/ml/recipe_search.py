"""Advanced classification, first stage: a cross-validated choice among frozen-feature recipes.

Quick training embeds every image with the domain's recipe (backbone, input size, framings) and fits a linear
head. On small, hard sets other frozen-feature recipes do better (``benchmarks/ml_classification.py
--frozen-features``, README "Small, hard classification sets"): a higher input resolution than the backbone was
trained at (Lite0 at 320 px, the "FixRes" effect), the whole frame next to the centre crop (off-centre subjects), a
larger backbone (Lite2 at 260 px). Each costs 1.5-3x quick's embedding time, so quick training cannot try them
all; advanced training, which has a budget, does.

Every candidate is embedded once and judged by cross-validation, the way it would be chosen in use. The choice
is nested, so it is honest: the figures reported for the choice on a validation fold come from the recipe that
scored best in a cross-validation *inside that fold's training images* (the validation images never take part in
choosing the recipe they are judged by). The delivered recipe is the one best in a cross-validation on every image,
and only if the nested figures beat quick's on the same validation images; otherwise quick's model stays. A single
hold-out split of a small set (42 validation images for 140) chose noisily: a cross-validation over every training
image is what makes the choice worth its time (``benchmarks/ml_classification.py --advanced-sets``).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from training.ml.backbones import get_spec
from training.ml.config import TrainConfig
from training.ml.embeddings import Embedder
from training.ml.linear_head import probability_scores, targets
from training.ml.manifest import Manifest
from training.ml.split import SplitPlan

logger = logging.getLogger(__name__)

INNER_FOLDS = 5  # folds of the cross-validations that choose a recipe


@dataclass(frozen=True)
class Candidate:
    """A frozen-feature recipe; None keeps the quick recipe's backbone / size."""

    backbone: str | None
    image_size: int | None
    framings: tuple[str, ...]


# Cheapest first: the budget may stop the search after any of them.
CANDIDATES: tuple[Candidate, ...] = (
    Candidate(None, None, ("centre", "whole")),  # the whole frame too: off-centre subjects
    Candidate("lite0", 320, ("centre",)),  # a higher resolution than Lite0's own: small subjects
    Candidate("lite2", None, ("centre",)),  # the larger backbone
)


@dataclass
class Tried:
    """One recipe's out-of-fold validation rows (and what the final model needs if it is chosen)."""

    config: TrainConfig
    label: str
    rows: list[dict[str, Any]]
    embeddings: np.ndarray
    embedder: Embedder
    seconds: float


@dataclass
class SearchOutcome:
    chosen: Tried  # quick's own Tried when no recipe beat it
    rows: list[dict[str, Any]]  # the nested validation rows (what the delivered choice is judged by)
    delivered: bool
    tried: int  # candidates evaluated (metrics["schedule"]["recipes"] replays it)
    comparison: dict[str, Any]
    notes: list[str]


def recipe_label(config: TrainConfig) -> str:
    size = config.image_size or get_spec(config.backbone).image_size
    framing = " + ".join({"centre": "centre crop", "whole": "whole frame"}.get(f, f) for f in config.framings)
    pooling = {"gem": ", GeM pooling", "gem-unclipped": ", GeM pooling (unclipped)"}.get(config.pooling, "")
    return f"EfficientNet-{config.backbone.capitalize()} at {size} px, {framing}{pooling}"


def _same_recipe(a: TrainConfig, b: TrainConfig) -> bool:
    def key(c: TrainConfig) -> tuple[str, int, tuple[str, ...]]:
        return c.backbone, c.image_size or get_spec(c.backbone).image_size, tuple(c.framings)

    return key(a) == key(b)


def candidate_config(config: TrainConfig, candidate: Candidate) -> TrainConfig:
    """The quick config with ``candidate``'s recipe."""
    backbone = candidate.backbone or config.backbone
    size = candidate.image_size if candidate.backbone is not None else (candidate.image_size or config.image_size)
    return dataclasses.replace(config, backbone=backbone, image_size=size, framings=candidate.framings)


def _row_probabilities(manifest: Manifest, rows: Sequence[dict[str, Any]], ids: Sequence[str]) -> np.ndarray:
    by_id = {r["id"]: r for r in rows}
    column = {t: j for j, t in enumerate(manifest.tags)}
    probs = np.zeros((len(ids), len(manifest.tags)))
    for i, image in enumerate(ids):
        for p in by_id[image]["predictions"]:
            probs[i, column[p["tag"]]] = p["probability"]
    return probs


def scores_on(manifest: Manifest, rows: Sequence[dict[str, Any]], ids: Sequence[str]) -> dict[str, float]:
    """{"accuracy", "log_loss"} of validation ``rows`` over the images ``ids``."""
    index = {s.id: i for i, s in enumerate(manifest.samples)}
    y = targets(manifest, [manifest.samples[index[i]] for i in ids])
    accuracy, log_loss = probability_scores(_row_probabilities(manifest, rows, ids), y, manifest.multilabel)
    return {"accuracy": accuracy, "log_loss": log_loss}


def _better(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """Accuracy first, then log-loss."""
    return (a[0], -a[1]) > (b[0], -b[1])


def best_index(scored: Sequence[tuple[float, float]]) -> int:
    """Index of the best score; the earliest wins ties (quick first, then the cheaper candidates)."""
    best = 0
    for i, s in enumerate(scored):
        if _better(s, scored[best]):
            best = i
    return best


def cv_score(manifest: Manifest, tried: Tried, y: np.ndarray, idx: Sequence[int], seed: int) -> tuple[float, float]:
    """(accuracy, log-loss) of ``tried``'s recipe in a stratified cross-validation over the images ``idx`` (up to
    INNER_FOLDS folds; a head per fold, at linear_head's default penalty: a penalty search inside every fold of
    every recipe would cost 25 times the fits)."""
    from training.ml.classification import cross_validated_probabilities

    if len(idx) < 2:  # nothing to cross-validate: every recipe ties, and ties keep quick's
        return 0.0, 0.0
    probs = cross_validated_probabilities(manifest, tried.embeddings, y, idx, seed=seed,
                                          framings=len(tried.config.framings), folds=INNER_FOLDS)[0]
    return probability_scores(probs, y[list(idx)], manifest.multilabel)


def nested_choice(manifest: Manifest, plan: SplitPlan, tried: Sequence[Tried], y: np.ndarray, seed: int
                  ) -> tuple[int, list[dict[str, Any]], list[int]]:
    """(index of the recipe best in a cross-validation over every image, validation rows where each fold's rows
    come from the recipe best in a cross-validation over that fold's training images, each fold's pick)."""
    by_id = [{r["id"]: r for r in t.rows} for t in tried]
    chosen: dict[str, dict[str, Any]] = {}
    picks = []
    for train_idx, val_idx in plan.folds:
        pick = best_index([cv_score(manifest, t, y, train_idx, seed) for t in tried])
        picks.append(pick)
        for i in val_idx:
            chosen[manifest.samples[i].id] = by_id[pick][manifest.samples[i].id]
    order = {r["id"]: k for k, r in enumerate(tried[0].rows)}
    rows = sorted(chosen.values(), key=lambda r: order[r["id"]])
    everyone = list(range(len(manifest.samples)))
    return best_index([cv_score(manifest, t, y, everyone, seed) for t in tried]), rows, picks


def search_recipes(
    manifest: Manifest,
    config: TrainConfig,
    plan: SplitPlan,
    quick: Tried,
    *,
    evaluate: Callable[[TrainConfig], Tried],
    deadline: float,
    candidates: Sequence[Candidate] = CANDIDATES,
) -> SearchOutcome:
    """Try ``candidates`` (``evaluate`` embeds and scores one recipe on ``plan``) until ``deadline`` (perf_counter)
    or, replaying a run, as many as ``config.schedule["recipes"]`` says; see the module docstring."""
    replay = (config.schedule or {}).get("recipes")
    tried = [quick]
    count = 0
    for k, candidate in enumerate(candidates):
        if replay is not None and k >= int(replay[0]):
            break
        if replay is None and time.perf_counter() > deadline:
            logger.info("recipe search: budget reached after %d candidates", count)
            break
        count += 1
        cfg = candidate_config(config, candidate)
        if any(_same_recipe(cfg, t.config) for t in tried):
            continue
        tried.append(evaluate(cfg))
    y = targets(manifest, manifest.samples)
    best, rows, picks = nested_choice(manifest, plan, tried, y, config.seed)
    ids = [r["id"] for r in rows]
    quick_score = scores_on(manifest, quick.rows, ids)
    nested = scores_on(manifest, rows, ids)
    delivered = best != 0 and _better((nested["accuracy"], nested["log_loss"]),
                                      (quick_score["accuracy"], quick_score["log_loss"]))
    table = []
    for i, t in enumerate(tried):
        table.append({"recipe": t.label, **scores_on(manifest, t.rows, ids), "seconds": round(t.seconds, 1),
                      "chosen": delivered and i == best or not delivered and i == 0})
    comparison = {"images": len(ids), "quick": quick_score, "advanced": nested, "recipes": table}
    tried_text = "; ".join(f"{t['recipe']}: accuracy {t['accuracy']:.3f}" for t in table)
    judged = ("each validation fold judged by the recipe a cross-validation on its training images chose"
              if len(plan.folds) > 1 else "the validation images judged by the recipe a cross-validation on the "
              "training images chose")
    if delivered:
        notes = [f"Advanced training compared {len(tried)} recipes ({tried_text}, on the validation images) and "
                 f"delivers {tried[best].label}, the best in a cross-validation over every image. Its validation "
                 f"figures are nested, {judged}: accuracy {nested['accuracy']:.3f} vs quick's "
                 f"{quick_score['accuracy']:.3f}."]
    else:
        notes = [f"Advanced training compared {len(tried)} recipes ({tried_text}, on the validation images); "
                 f"chosen without seeing the images it is judged on ({judged}), none beat quick's (accuracy "
                 f"{nested['accuracy']:.3f} vs {quick_score['accuracy']:.3f}), so quick's recipe is kept."]
    logger.info("recipe search: picks per fold %s, delivered %s", [tried[p].label for p in picks],
                tried[best].label if delivered else "quick")
    return SearchOutcome(chosen=tried[best] if delivered else quick, rows=rows if delivered else quick.rows,
                         delivered=delivered, tried=count, comparison=comparison, notes=notes)

