"""Advanced classification's recipe search (training.ml.recipe_search): which recipe is delivered, and that the
figures reported for the choice never come from the images it is judged on."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from training.ml import Manifest, Sample, TrainConfig
from training.ml.recipe_search import Tried, nested_choice, search_recipes
from training.ml.split import SplitPlan

TAGS = ("ant", "bee")


def _manifest(n: int) -> Manifest:
    samples = tuple(Sample(id=f"i{i}", path=f"i{i}.jpg", tags=(TAGS[i % 2],)) for i in range(n))
    return Manifest(task="classification", tags=TAGS, samples=samples)


def _rows(manifest: Manifest, right: set[int], confidence: float = 0.9) -> list[dict[str, Any]]:
    """Validation rows that get exactly the images ``right`` right."""
    rows = []
    for i, s in enumerate(manifest.samples):
        p = confidence if i in right else 1 - confidence
        truth, other = s.tags[0], next(t for t in TAGS if t != s.tags[0])
        rows.append({"id": s.id, "tags": list(s.tags), "boxes": [],
                     "predictions": [{"tag": truth, "probability": p, "box": None},
                                     {"tag": other, "probability": 1 - p, "box": None}]})
    return rows


def _features(manifest: Manifest, signal: float, seed: int) -> np.ndarray:
    """(N, 1, 8) embeddings whose first dimension is +-signal by tag, plus unit noise."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, (len(manifest.samples), 1, 8))
    x[:, 0, 0] += [signal if s.tags[0] == TAGS[0] else -signal for s in manifest.samples]
    return x


def _tried(label: str, rows: list[dict[str, Any]], embeddings: np.ndarray | None = None, **recipe: Any) -> Tried:
    emb = np.zeros((len(rows), 1, 8)) if embeddings is None else embeddings
    return Tried(TrainConfig(**recipe), label, rows, emb, None, 0.0)  # type: ignore[arg-type]


def test_the_choice_comes_from_cross_validation_on_training_images_not_from_validation_rows() -> None:
    manifest = _manifest(40)
    y = np.array([[1.0, 0.0] if s.tags[0] == TAGS[0] else [0.0, 1.0] for s in manifest.samples])
    val = list(range(0, 40, 4))
    plan = SplitPlan("holdout", 0, [([i for i in range(40) if i not in val], val)])
    quick = _tried("quick", _rows(manifest, set(range(0, 40, 2))), _features(manifest, 0.5, 1))
    good = _tried("good", _rows(manifest, set(range(40)), 0.8), _features(manifest, 4.0, 2))
    # Perfect, confident validation rows from features that carry nothing: a choice made on the validation
    # rows would take it; the nested choice never looks at them.
    lucky = _tried("lucky", _rows(manifest, set(range(40)), 0.99), _features(manifest, 0.0, 3))
    best, rows, picks = nested_choice(manifest, plan, [quick, lucky, good], y, seed=0)
    assert best == 2 and picks == [2]
    assert [r["id"] for r in rows] == [f"i{i}" for i in val]
    assert all(r["predictions"][0]["probability"] == 0.8 for r in rows)  # good's rows

    # k-fold: every fold picks by a cross-validation inside its own training images.
    folds = [([i for i in range(40) if i % 4 != f], [i for i in range(40) if i % 4 == f]) for f in range(4)]
    best, rows, picks = nested_choice(manifest, SplitPlan("kfold", 0, folds), [quick, lucky, good], y, seed=0)
    assert best == 2 and picks == [2, 2, 2, 2] and len(rows) == 40


def test_a_recipe_is_delivered_only_when_its_nested_figures_beat_quick() -> None:
    manifest = _manifest(36)
    val = list(range(0, 36, 3))
    plan = SplitPlan("holdout", 0, [([i for i in range(36) if i not in val], val)])
    quick_rows = _rows(manifest, set(val[:8]))
    better = _rows(manifest, set(val[:11]))
    weak, strong = _features(manifest, 0.3, 1), _features(manifest, 4.0, 2)
    evaluated: list[TrainConfig] = []

    def evaluate(cfg: TrainConfig) -> Tried:
        evaluated.append(cfg)
        lite2 = cfg.backbone == "lite2"
        return _tried(f"{cfg.backbone} {cfg.image_size} {'+'.join(cfg.framings)}", better if lite2 else quick_rows,
                      strong if lite2 else weak, **vars(cfg))

    quick = _tried("quick", quick_rows, weak)
    out = search_recipes(manifest, TrainConfig(), plan, quick, evaluate=evaluate, deadline=time.perf_counter() + 60)
    assert [(c.backbone, c.image_size, c.framings) for c in evaluated] == [
        ("lite0", None, ("centre", "whole")), ("lite0", 320, ("centre",)), ("lite2", None, ("centre",))]
    assert out.delivered and out.chosen.config.backbone == "lite2" and out.tried == 3
    assert out.comparison["quick"]["accuracy"] == 8 / 12 and out.comparison["advanced"]["accuracy"] == 11 / 12
    assert [r["chosen"] for r in out.comparison["recipes"]] == [False, False, False, True]
    assert "delivers lite2 None centre" in out.notes[0]

    # Replaying a run tries exactly the recipes it tried (here: one), whatever the clock says.
    evaluated.clear()
    replay = TrainConfig(schedule={"recipes": [1]})
    out = search_recipes(manifest, replay, plan, quick, evaluate=evaluate, deadline=0.0)
    assert len(evaluated) == 1 and out.tried == 1 and not out.delivered
    assert out.chosen is quick and out.rows is quick_rows and "quick's recipe is kept" in out.notes[0]

    # Out of budget: nothing is tried, quick stays.
    evaluated.clear()
    out = search_recipes(manifest, TrainConfig(), plan, quick, evaluate=evaluate, deadline=0.0)
    assert evaluated == [] and out.tried == 0 and not out.delivered


def test_a_domain_already_using_a_candidate_recipe_does_not_try_it_twice() -> None:
    manifest = _manifest(6)
    plan = SplitPlan("holdout", 0, [([0, 1, 2, 3], [4, 5])])
    seen: list[tuple[str, int | None, tuple[str, ...]]] = []

    def evaluate(cfg: TrainConfig) -> Tried:
        seen.append((cfg.backbone, cfg.image_size, cfg.framings))
        return _tried("x", _rows(manifest, set()), None, **vars(cfg))

    retail = TrainConfig(image_size=320)  # Retail: Lite0 at 320 px
    quick = _tried("quick", _rows(manifest, set(range(6))), None, **vars(retail))
    search_recipes(manifest, retail, plan, quick, evaluate=evaluate, deadline=time.perf_counter() + 60)
    assert seen == [("lite0", 320, ("centre", "whole")), ("lite2", None, ("centre",))]
