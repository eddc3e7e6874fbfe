"""Splits are seeded, stratified and disjoint."""

from __future__ import annotations

from training.ml import Manifest, Sample, TrainConfig
from training.ml.split import holdout, kfold, plan_split, stratum


def _manifest(n_a: int, n_b: int, split: dict[int, str] | None = None) -> Manifest:
    samples = [
        Sample(id=f"s{i}", path=f"s{i}.png", tags=("a",) if i < n_a else ("b",), split=(split or {}).get(i))
        for i in range(n_a + n_b)
    ]
    return Manifest(task="classification", tags=("a", "b"), samples=tuple(samples))


def test_holdout_is_stratified_seeded_and_disjoint() -> None:
    m = _manifest(100, 50)
    train, val = holdout(m.samples, val_fraction=0.3, seed=3)
    assert set(train).isdisjoint(val) and len(train) + len(val) == 150
    assert sum(1 for i in val if i < 100) == 30 and sum(1 for i in val if i >= 100) == 15
    assert holdout(m.samples, val_fraction=0.3, seed=3) == (train, val)
    assert holdout(m.samples, val_fraction=0.3, seed=4) != (train, val)


def test_kfold_covers_every_image_once() -> None:
    m = _manifest(12, 8)
    folds = kfold([stratum(s) for s in m.samples], k=4, seed=0)
    seen = sorted(i for _, val in folds for i in val)
    assert seen == list(range(20))
    for train, val in folds:
        assert set(train).isdisjoint(val)
        assert sum(1 for i in val if i < 12) == 3


def test_kfold_stratifies_class_indices_as_it_does_tags() -> None:
    labels = [0] * 10 + [1] * 5
    folds = kfold(labels, k=5, seed=0)
    for _, val in folds:
        assert sorted(labels[i] for i in val) == [0, 0, 1]
    names = ["ant" if v == 0 else "bee" for v in labels]  # the same strata under other names: the same folds
    assert kfold(names, k=5, seed=0) == folds


def test_plan_picks_kfold_for_small_sets_and_holdout_for_large() -> None:
    assert plan_split(_manifest(10, 10), TrainConfig()).method == "kfold"
    assert plan_split(_manifest(3, 2), TrainConfig()).k == 2  # capped by the smallest tag
    plan = plan_split(_manifest(60, 60), TrainConfig(seed=7))
    assert (plan.method, plan.k, plan.seed) == ("holdout", 1, 7)
    js = plan.to_json(_manifest(60, 60).samples)
    assert len(js["val_ids"]) == 36 and not set(js["val_ids"]) & set(js["train_ids"])


def test_manifest_split_is_used_as_given() -> None:
    m = _manifest(5, 5, split={0: "test", 7: "test"})
    plan = plan_split(m, TrainConfig())
    assert plan.method == "given" and plan.folds[0][1] == [0, 7]
