"""Seeded, stratified train/validation splits: hold-out, k-fold, or the manifest's own split."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from training.ml.config import TrainConfig
from training.ml.manifest import Manifest, Sample

KFOLD_BELOW = 60  # datasets smaller than this are evaluated by k-fold cross-validation
MAX_FOLDS = 5
VAL_SPLIT_NAMES = ("test", "val", "validation")


@dataclass
class SplitPlan:
    """Indices (into ``manifest.samples``) of each fold's train and validation sides."""

    method: str  # "holdout" | "kfold" | "given"
    seed: int
    folds: list[tuple[list[int], list[int]]] = field(default_factory=list)

    @property
    def k(self) -> int:
        return len(self.folds)

    def to_json(self, samples: Sequence[Sample]) -> dict[str, Any]:
        """The metrics["split"] dict: ids on each side (for k-fold, every fold's ids too)."""
        ids = [s.id for s in samples]
        train0, val0 = self.folds[0]
        out: dict[str, Any] = {"method": self.method, "seed": self.seed, "k": self.k}
        if self.method == "kfold":
            out["train_ids"] = []
            out["val_ids"] = sorted({ids[i] for _, va in self.folds for i in va})
            out["folds"] = [
                {"train_ids": [ids[i] for i in tr], "val_ids": [ids[i] for i in va]} for tr, va in self.folds
            ]
        else:
            out["train_ids"] = [ids[i] for i in train0]
            out["val_ids"] = [ids[i] for i in val0]
        return out


def stratum(sample: Sample) -> str:
    """Stratification key: the sorted tag set (multilabel combinations count as one stratum)."""
    return "|".join(sorted(sample.tags))


def _groups(strata: Sequence[str | int], seed: int) -> list[list[int]]:
    """The positions of each stratum (in sorted order of the strata), each shuffled by one seeded generator."""
    by: dict[str | int, list[int]] = defaultdict(list)
    for i, key in enumerate(strata):
        by[key].append(i)
    rng = np.random.default_rng(seed)
    groups = []
    for key in sorted(by):
        idx = np.array(by[key])
        rng.shuffle(idx)
        groups.append(idx.tolist())
    return groups


def holdout(samples: Sequence[Sample], *, val_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Stratified hold-out: ``round(val_fraction * n)`` of every stratum (>= 1 when it has >= 2)."""
    train: list[int] = []
    val: list[int] = []
    for idx in _groups([stratum(s) for s in samples], seed):
        n_val = int(round(len(idx) * val_fraction))
        if len(idx) >= 2:
            n_val = min(max(n_val, 1), len(idx) - 1)
        else:
            n_val = 0
        val += idx[:n_val]
        train += idx[n_val:]
    return sorted(train), sorted(val)


def kfold(strata: Sequence[str | int], *, k: int, seed: int) -> list[tuple[list[int], list[int]]]:
    """Stratified k-fold over items of the given strata (:func:`stratum` of each sample; or class indices): each
    stratum dealt round-robin over the folds after a seeded shuffle. Returns (train, validation) positions."""
    fold_of = np.zeros(len(strata), dtype=np.int64)
    offset = 0
    for idx in _groups(strata, seed):
        for j, i in enumerate(idx):
            fold_of[i] = (offset + j) % k
        offset += len(idx)
    all_idx = np.arange(len(strata))
    return [(all_idx[fold_of != f].tolist(), all_idx[fold_of == f].tolist()) for f in range(k)]


def plan_split(manifest: Manifest, config: TrainConfig) -> SplitPlan:
    """Choose the evaluation split.

    A manifest whose samples carry ``split`` ("train" / "test" / "val") is used as given. Otherwise
    ``config.kfold``: 1 = hold-out, k >= 2 = k folds, 0 = automatic (k-fold with up to 5 folds below
    60 images, else a ``config.val_fraction`` hold-out). Everything is seeded by ``config.seed``.
    """
    samples = manifest.samples
    if any(s.split for s in samples):
        val = [i for i, s in enumerate(samples) if (s.split or "").lower() in VAL_SPLIT_NAMES]
        train = [i for i, s in enumerate(samples) if i not in set(val)]
        if val and train:
            return SplitPlan("given", config.seed, [(train, val)])
    k = config.kfold
    if k == 0:
        k = MAX_FOLDS if len(samples) < KFOLD_BELOW else 1
    if k >= 2:
        counts: dict[str, int] = defaultdict(int)
        for s in samples:
            counts[stratum(s)] += 1
        k = max(2, min(k, min(counts.values())))
        return SplitPlan("kfold", config.seed, kfold([stratum(s) for s in samples], k=k, seed=config.seed))
    return SplitPlan("holdout", config.seed, [holdout(samples, val_fraction=config.val_fraction, seed=config.seed)])
