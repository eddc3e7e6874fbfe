"""Likely mislabels: out-of-fold probabilities of a linear model on frozen embeddings, then confident learning.

The model is the quick trainer's own linear head, cross-validated as quick training does
(``training.ml.linear_head.out_of_fold_probabilities``) at its fixed penalty: fitted on every
augmented view of the other folds' images, so a suspect's probabilities never saw its own (possibly wrong) tag.
cleanlab's ``find_label_issues`` (confident learning: per-class thresholds from the confident joint) decides
which tags are likely wrong, and its self-confidence ranks them (the least likely given tag first).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from training.ml import linear_head


@dataclass(frozen=True)
class Suspect:
    index: int  # into the items passed in
    given: int  # the class it carries
    suggested: int  # the class the model prefers
    given_probability: float
    suggested_probability: float


def out_of_fold_probabilities(embeddings: np.ndarray, labels: np.ndarray, num_classes: int, *, seed: int = 0
                              ) -> np.ndarray:
    """(N, K) probabilities of each item from quick training's linear head fitted without its fold
    (``linear_head.out_of_fold_probabilities``: stratified, up to 5 folds), at the fixed penalty
    ``linear_head.WEIGHT_DECAY``. Quick training's penalty search is not used here: on injected label flips it
    made the suspects more precise but fewer, and missed more flips (README, "Data Health").

    Args:
        embeddings: (N, F) or (N, V, F) (V augmented views: all train, the first one is scored).
        labels: (N,) class indices in [0, num_classes).
        num_classes: K.
        seed: fold shuffling.
    """
    x = embeddings if embeddings.ndim == 3 else embeddings[:, None, :]
    probs: np.ndarray = linear_head.out_of_fold_probabilities(
        x, np.eye(num_classes)[labels], labels.tolist(), seed=seed, multilabel=False)[0]
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
