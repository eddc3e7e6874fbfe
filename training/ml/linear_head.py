"""The linear classification head shared by quick and advanced training and by Data Health.

Targets from a manifest, an L2-regularised linear model fitted full-batch with L-BFGS (float64 parameters,
float32 products) on standardised embeddings (deterministic), the per-view training rows, out-of-fold probabilities
(:func:`out_of_fold_probabilities`) and the validation rows that ``metrics.compute_metrics`` reads.
``classification`` (quick), ``finetune`` (advanced) and ``health.checks.mislabels`` use it. No torch: the web
tier imports it through Data Health.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from training.ml.manifest import Manifest
from training.ml.split import kfold

WEIGHT_DECAY = 1e-3  # on standardised features, per mean-reduced loss
SEARCH_FOLDS = 5  # folds of out_of_fold_probabilities (quick training's penalty search, Data Health's mislabels)
LBFGS_ITERATIONS = 100


@dataclass(frozen=True)
class LinearHead:
    """logits = embedding @ weight + bias (standardisation folded in). weight (F, K), bias (K,)."""

    weight: np.ndarray
    bias: np.ndarray
    multilabel: bool

    def predict_proba(self, embeddings: np.ndarray) -> np.ndarray:
        logits = embeddings.astype(np.float64) @ self.weight + self.bias
        if self.multilabel:
            sigmoid: np.ndarray = 1.0 / (1.0 + np.exp(-logits))
            return sigmoid
        logits = logits - logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        softmax: np.ndarray = e / e.sum(axis=1, keepdims=True)
        return softmax


def targets(manifest: Manifest, samples: Sequence[Any]) -> np.ndarray:
    """(N, K) 0/1 target matrix; a negative tag is exclusive ("no other tag")."""
    index = {t: i for i, t in enumerate(manifest.tags)}
    y = np.zeros((len(samples), len(manifest.tags)), dtype=np.float64)
    for r, s in enumerate(samples):
        tags = [t for t in s.tags if t in index]
        if manifest.negative_tag in tags:
            tags = [manifest.negative_tag]
        for t in tags:
            y[r, index[t]] = 1.0
    return y


def lbfgs(
    fun: Callable[[np.ndarray], tuple[float, np.ndarray]], x0: np.ndarray, *, max_iter: int, memory: int = 20
) -> np.ndarray:
    """Minimise a smooth convex function with L-BFGS and Armijo backtracking (numpy, deterministic)."""
    x = x0
    f, g = fun(x)
    hist: list[tuple[np.ndarray, np.ndarray, float]] = []
    for _ in range(max_iter):
        q = g.copy()
        alphas = []
        for s_, y_, rho in reversed(hist):
            a = rho * float(s_ @ q)
            q -= a * y_
            alphas.append(a)
        if hist:
            s_, y_, _ = hist[-1]
            q *= float(s_ @ y_) / float(y_ @ y_)
        else:
            q /= max(float(np.linalg.norm(g)), 1e-12)
        for (s_, y_, rho), a in zip(hist, reversed(alphas), strict=True):
            q += s_ * (a - rho * float(y_ @ q))
        d = -q
        slope = float(g @ d)
        if slope >= 0:
            d, slope = -g, -float(g @ g)
        t = 1.0
        while True:
            xn = x + t * d
            fn, gn = fun(xn)
            if fn <= f + 1e-4 * t * slope or t < 1e-10:
                break
            t *= 0.5
        s_, y_ = xn - x, gn - g
        sy = float(s_ @ y_)
        if sy > 1e-12:
            hist = (hist + [(s_, y_, 1.0 / sy)])[-memory:]
        converged = abs(f - fn) <= 1e-9 * max(1.0, abs(f))
        x, f, g = xn, fn, gn
        if converged or float(np.max(np.abs(g))) < 1e-7:
            break
    return x


def fit_head(
    x: np.ndarray, y: np.ndarray, *, multilabel: bool, weight_decay: float = WEIGHT_DECAY, seed: int = 0,
    start: LinearHead | None = None,
) -> LinearHead:
    """Fit the linear head on embeddings ``x`` (N, F) and 0/1 targets ``y`` (N, K).

    Multiclass minimises softmax cross-entropy on the arg-max target, multilabel a per-tag sigmoid
    cross-entropy, both + ``weight_decay * |W|^2`` on standardised features. Deterministic: full-batch L-BFGS from
    zero, or from ``start`` (a head fitted on the same ``x`` at another penalty: a warm start, fewer steps to the same
    optimum); the problem is convex, so ``seed`` changes nothing.
    """
    del seed
    # Standardised features are stored in float32 and every product with them runs in float32 (the loss, the
    # parameters and L-BFGS stay float64): the two passes over the N x F matrix per step are memory-bound, so this
    # halves what they read (10,000 images: a fit 1.4x faster, half the memory).
    x32 = np.asarray(x, dtype=np.float32)
    mu = x32.mean(0, dtype=np.float64)
    sd = x32.std(0, dtype=np.float64) + 1e-6
    xs = ((x32 - mu.astype(np.float32)) / sd.astype(np.float32)).astype(np.float32, copy=False)
    n, f = xs.shape
    k = y.shape[1]
    if multilabel:
        target = np.asarray(y, dtype=np.float64)
    else:
        target = np.zeros((n, k))
        target[np.arange(n), np.asarray(y).argmax(1)] = 1.0
    denom = float(n * k) if multilabel else float(n)

    def fun(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w = theta[: f * k].reshape(f, k)
        b = theta[f * k :]
        z = (xs @ w.astype(np.float32)).astype(np.float64) + b
        if multilabel:
            loss = float(np.sum(np.logaddexp(0.0, z) - target * z)) / denom
            resid = (1.0 / (1.0 + np.exp(-z)) - target) / denom
        else:
            zmax = z.max(axis=1, keepdims=True)
            lse = zmax[:, 0] + np.log(np.exp(z - zmax).sum(axis=1))
            loss = float(np.sum(lse - (target * z).sum(axis=1))) / denom
            resid = (np.exp(z - lse[:, None]) - target) / denom
        loss += weight_decay * float(np.sum(w * w))
        gw = (xs.T @ resid.astype(np.float32)).astype(np.float64) + 2.0 * weight_decay * w
        return loss, np.concatenate([gw.ravel(), resid.sum(axis=0)])

    theta0 = np.zeros(f * k + k)
    if start is not None:  # back to the standardised features' parameters (the inverse of the fold below)
        theta0 = np.concatenate([(start.weight * sd[:, None]).ravel(), start.bias + mu @ start.weight])
    theta = lbfgs(fun, theta0, max_iter=LBFGS_ITERATIONS)
    w = theta[: f * k].reshape(f, k)
    b = theta[f * k :]
    return LinearHead(weight=w / sd[:, None], bias=b - (mu / sd) @ w, multilabel=multilabel)


def probability_scores(probs: np.ndarray, y: np.ndarray, multilabel: bool) -> tuple[float, float]:
    """(accuracy, log-loss) of probabilities (N, K) against 0/1 targets (N, K). Single-label: the top tag is the
    image's tag; multilabel: every tag on the right side of 50 %, log-loss averaged over the tags."""
    eps = 1e-7
    if multilabel:
        acc = float(np.mean(np.all((probs >= 0.5) == (y > 0.5), axis=1)))
        ll = float(-np.mean(y * np.log(probs + eps) + (1 - y) * np.log(1 - probs + eps)))
    else:
        acc = float(np.mean(probs.argmax(1) == y.argmax(1)))
        ll = float(-np.mean(np.log(probs[np.arange(len(y)), y.argmax(1)] + eps)))
    return acc, ll


def train_views(embeddings: np.ndarray, y: np.ndarray, idx: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Training rows: every view of the images ``idx`` of (N, V, F) ``embeddings``, with their targets."""
    views = embeddings.shape[1]
    x = embeddings[list(idx)].reshape(len(idx) * views, -1)
    return x, np.repeat(y[list(idx)], views, axis=0)


def predicted_embeddings(embeddings: np.ndarray, framings: int = 1) -> np.ndarray:
    """(N, F) embeddings the delivered model predicts from: the "full" view, averaged over the framings
    (``load_embeddings`` stacks each framing's views one after the other; "full" is each framing's first)."""
    views = embeddings.shape[1] // framings
    full: np.ndarray = embeddings[:, [j * views for j in range(framings)]].mean(axis=1)
    return full


def out_of_fold_probabilities(
    embeddings: np.ndarray, y: np.ndarray, strata: Sequence[str | int], *, seed: int, multilabel: bool,
    weight_decays: Sequence[float] = (WEIGHT_DECAY,), framings: int = 1, folds: int = SEARCH_FOLDS,
) -> np.ndarray:
    """(len(weight_decays), N, K) out-of-fold probabilities of N items at each penalty: a stratified
    cross-validation over them (``split.kfold`` by ``strata``, up to ``folds`` folds, at least 2, seeded), a head
    per fold and penalty fitted on every view of the fold's training items and predicting from the delivered model's
    embedding (:func:`predicted_embeddings`). Within a fold the heads are fitted from the largest penalty down, each
    starting from the one before (a warm start).

    Args:
        embeddings: (N, V, F), V views (every one trains; see :func:`predicted_embeddings` for the one scored).
        y: (N, K) 0/1 targets.
        strata: each item's stratum (``split.stratum`` of a sample, or its class index).
    """
    k = max(2, min(folds, min(Counter(strata).values())))
    predicted = predicted_embeddings(embeddings, framings)
    probs = np.zeros((len(weight_decays), len(y), y.shape[1]))
    order = sorted(range(len(weight_decays)), key=lambda j: -weight_decays[j])
    for train, val in kfold(strata, k=k, seed=seed):
        rows = train_views(embeddings, y, train)
        head: LinearHead | None = None
        for j in order:
            head = fit_head(*rows, multilabel=multilabel, weight_decay=weight_decays[j], start=head)
            probs[j, val] = head.predict_proba(predicted[val])
    return probs


def prediction_rows(manifest: Manifest, idx: Sequence[int], probs: np.ndarray) -> list[dict[str, Any]]:
    """validation_predictions entries for samples ``idx`` with probabilities (len(idx), K)."""
    rows = []
    for r, i in enumerate(idx):
        s = manifest.samples[i]
        order = np.argsort(-probs[r], kind="stable")
        rows.append(
            {
                "id": s.id,
                "tags": list(s.tags),
                "boxes": [],
                "predictions": [
                    {"tag": manifest.tags[j], "probability": float(probs[r, j]), "box": None} for j in order
                ],
            }
        )
    return rows
