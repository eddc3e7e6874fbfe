"""Likely mislabels: out-of-fold probabilities of a linear model on frozen embeddings, then confident learning.

The model is the quick trainer's own linear head (``training.ml.linear_head.fit_head``) fitted on every
augmented view of the other folds' images, so a suspect's probabilities never saw its own (possibly wrong) tag.
cleanlab's ``find_label_issues`` (confident learning: per-class thresholds from the confident joint) decides
which tags are likely wrong, and its self-confidence ranks them (the least likely given tag first).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from training.ml.linear_head import fit_head

FOLDS = 5


@dataclass(frozen=True)
class Suspect:
    index: int  # into the items passed in
    given: int  # the class it carries
    suggested: int  # the class the model prefers
    given_probability: float
    suggested_probability: float


def fold_assignment(labels: np.ndarray, *, folds: int = FOLDS, seed: int = 0) -> np.ndarray:
    """Stratified fold of each item: each class shuffled (seeded) and dealt round-robin."""
    rng = np.random.default_rng(seed)
    fold_of = np.zeros(len(labels), dtype=np.int64)
    offset = 0
    for cls in np.unique(labels):
        idx = np.flatnonzero(labels == cls)
        rng.shuffle(idx)
        fold_of[idx] = (offset + np.arange(len(idx))) % folds
        offset += len(idx)
    return fold_of


def out_of_fold_probabilities(
    embeddings: np.ndarray, labels: np.ndarray, num_classes: int, *, folds: int = FOLDS, seed: int = 0
) -> np.ndarray:
    """(N, K) probabilities of each item from a linear head fitted without its fold.

    Args:
        embeddings: (N, F) or (N, V, F) (V augmented views: all train, the first one is scored).
        labels: (N,) class indices in [0, num_classes).
        num_classes: K.
        folds: k of the stratified k-fold (fewer when the smallest class is smaller, at least 2).
        seed: fold shuffling.
    """
    x = embeddings if embeddings.ndim == 3 else embeddings[:, None, :]
    n, views, _ = x.shape
    counts = np.bincount(labels, minlength=num_classes)
    k = max(2, min(folds, int(counts[counts > 0].min()) if n else 2))
    fold_of = fold_assignment(labels, folds=k, seed=seed)
    onehot = np.eye(num_classes)[labels]
    probs = np.zeros((n, num_classes))
    for f in range(k):
        train, val = np.flatnonzero(fold_of != f), np.flatnonzero(fold_of == f)
        if not len(val):
            continue
        head = fit_head(x[train].reshape(len(train) * views, -1), np.repeat(onehot[train], views, axis=0),
                        multilabel=False)
        probs[val] = head.predict_proba(x[val, 0])
    return probs


def label_suspects(labels: np.ndarray, probabilities: np.ndarray) -> list[Suspect]:
    """Items confident learning finds mislabelled, the least likely given tag first.

    Args:
        labels: (N,) given classes.
        probabilities: (N, K) out-of-fold probabilities.
    """
    from cleanlab.filter import find_label_issues  # imports pandas; only the worker pays for it

    present = np.flatnonzero(np.bincount(labels, minlength=probabilities.shape[1]))
    if len(present) < 2:
        return []
    # cleanlab wants every column to be a class with examples: drop unused ones and renormalise.
    remap = {int(c): i for i, c in enumerate(present)}
    p = probabilities[:, present]
    p = p / np.maximum(p.sum(axis=1, keepdims=True), 1e-12)
    y = np.asarray([remap[int(v)] for v in labels])
    # n_jobs=1: a Celery prefork child is a daemon process and may not start cleanlab's multiprocessing pool.
    ranked = find_label_issues(y, p, return_indices_ranked_by="self_confidence", n_jobs=1)
    out = []
    for i in ranked:
        suggested = int(present[int(np.argmax(p[i]))])
        out.append(Suspect(index=int(i), given=int(labels[i]), suggested=suggested,
                           given_probability=float(probabilities[i, labels[i]]),
                           suggested_probability=float(probabilities[i, suggested])))
    return out
