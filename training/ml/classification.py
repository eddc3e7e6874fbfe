"""Quick classification: cached backbone embeddings + a linear head (softmax or sigmoid).

Recipe: every image is embedded once per backbone (with its flipped and zoomed views, see
``embeddings.VIEWS``); the head is an L2-regularised linear model on standardised embeddings,
fitted full-batch with L-BFGS in float64 (deterministic). Evaluation uses a seeded stratified
split (see :mod:`training.ml.split`); the delivered model is refitted on every image.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from training.ml import artifacts
from training.ml.backbones import get_spec
from training.ml.config import TrainConfig
from training.ml.embeddings import VIEWS, Embedder, default_cache_dir, embed_images
from training.ml.errors import Cancelled, EmptyManifest, NotEnoughImagesPerTag, NotEnoughTags
from training.ml.images import file_sha256, load_array
from training.ml.manifest import Manifest, TrainResult
from training.ml.metrics import compute_metrics
from training.ml.split import SplitPlan, plan_split

logger = logging.getLogger(__name__)

MIN_IMAGES_PER_TAG = 2
WEIGHT_DECAY = 1e-3  # on standardised features, per mean-reduced loss
LBFGS_ITERATIONS = 100
ProgressFn = Callable[[float, str], None]


@dataclass(frozen=True)
class LinearHead:
    """logits = embedding @ weight + bias (standardisation folded in). weight (F, K), bias (K,)."""

    weight: np.ndarray
    bias: np.ndarray
    multilabel: bool

    def predict_proba(self, embeddings: np.ndarray) -> np.ndarray:
        logits = embeddings.astype(np.float64) @ self.weight + self.bias
        if self.multilabel:
            return 1.0 / (1.0 + np.exp(-logits))
        logits = logits - logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        return e / e.sum(axis=1, keepdims=True)


def check_manifest(manifest: Manifest, *, min_images_per_tag: int = MIN_IMAGES_PER_TAG) -> None:
    """Reject manifests the classifier cannot learn from.

    Raises:
        EmptyManifest: no images.
        NotEnoughTags: fewer than two tags in use (a negative tag counts).
        NotEnoughImagesPerTag: a used tag has fewer than ``min_images_per_tag`` images.
    """
    if not manifest.samples:
        raise EmptyManifest("The manifest has no images.")
    counts = {t: 0 for t in manifest.tags}
    for s in manifest.samples:
        for t in s.tags:
            if t in counts:
                counts[t] += 1
    used = [t for t, c in counts.items() if c > 0]
    if len(used) < 2:
        raise NotEnoughTags(f"Classification needs at least 2 tags with images; got {used}.")
    for t in used:
        if counts[t] < min_images_per_tag:
            raise NotEnoughImagesPerTag(
                f"Tag {t!r} has {counts[t]} images; at least {min_images_per_tag} are required."
            )
    if not any(s.tags for s in manifest.samples):
        raise EmptyManifest("No image has a tag.")


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


def _lbfgs(
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
        for (s_, y_, rho), a in zip(hist, reversed(alphas)):
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
    x: np.ndarray, y: np.ndarray, *, multilabel: bool, weight_decay: float = WEIGHT_DECAY, seed: int = 0
) -> LinearHead:
    """Fit the linear head on embeddings ``x`` (N, F) and 0/1 targets ``y`` (N, K).

    Multiclass minimises softmax cross-entropy on the arg-max target, multilabel a per-tag sigmoid
    cross-entropy, both + ``weight_decay * |W|^2`` on standardised features. Deterministic: float64,
    zero initialisation, full-batch L-BFGS (the problem is convex, so ``seed`` changes nothing).
    """
    del seed
    x64 = np.asarray(x, dtype=np.float64)
    mu = x64.mean(0)
    sd = x64.std(0) + 1e-6
    xs = (x64 - mu) / sd
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
        z = xs @ w + b
        if multilabel:
            loss = float(np.sum(np.logaddexp(0.0, z) - target * z)) / denom
            resid = (1.0 / (1.0 + np.exp(-z)) - target) / denom
        else:
            zmax = z.max(axis=1, keepdims=True)
            lse = zmax[:, 0] + np.log(np.exp(z - zmax).sum(axis=1))
            loss = float(np.sum(lse - (target * z).sum(axis=1))) / denom
            resid = (np.exp(z - lse[:, None]) - target) / denom
        loss += weight_decay * float(np.sum(w * w))
        gw = xs.T @ resid + 2.0 * weight_decay * w
        return loss, np.concatenate([gw.ravel(), resid.sum(axis=0)])

    theta = _lbfgs(fun, np.zeros(f * k + k), max_iter=LBFGS_ITERATIONS)
    w = theta[: f * k].reshape(f, k)
    b = theta[f * k :]
    return LinearHead(weight=w / sd[:, None], bias=b - (mu / sd) @ w, multilabel=multilabel)


def _check_cancel(should_cancel: Callable[[], bool] | None) -> None:
    if should_cancel and should_cancel():
        raise Cancelled("Training was cancelled.")


def _train_views(embeddings: np.ndarray, y: np.ndarray, idx: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    views = embeddings.shape[1]
    x = embeddings[list(idx)].reshape(len(idx) * views, -1)
    return x, np.repeat(y[list(idx)], views, axis=0)


def prediction_rows(
    manifest: Manifest, idx: Sequence[int], probs: np.ndarray
) -> list[dict[str, Any]]:
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


def evaluate_heads(
    manifest: Manifest, plan: SplitPlan, embeddings: np.ndarray, y: np.ndarray, *, seed: int
) -> tuple[list[dict[str, Any]], list[dict[str, float]]]:
    """Fit one head per fold; return out-of-fold validation rows (manifest order) and per-fold
    {"accuracy", "ap"}."""
    rows: dict[int, dict[str, Any]] = {}
    fold_scores = []
    for train_idx, val_idx in plan.folds:
        head = fit_head(*_train_views(embeddings, y, train_idx), multilabel=manifest.multilabel, seed=seed)
        probs = head.predict_proba(embeddings[val_idx, 0])
        for i, row in zip(val_idx, prediction_rows(manifest, val_idx, probs)):
            rows[i] = row
        fold = compute_metrics("classification", manifest.tags, [rows[i] for i in val_idx], multilabel=manifest.multilabel)
        fold_scores.append({"accuracy": fold["overall"]["accuracy"], "ap": fold["overall"]["ap"]})
    return [rows[i] for i in sorted(rows)], fold_scores


def load_embeddings(
    manifest: Manifest,
    config: TrainConfig,
    cache_dir: Path,
    *,
    progress: ProgressFn | None,
    should_cancel: Callable[[], bool] | None,
    span: tuple[float, float] = (0.05, 0.8),
) -> tuple[np.ndarray, Embedder, int]:
    """(N, V, F) embeddings of every sample (cache first); also the embedder and the miss count."""
    # The trunk ONNX depends only on (backbone, size): without a configured cache it goes to the
    # machine-wide default_cache_dir() rather than being re-exported for every workdir.
    embedder = Embedder(
        config.backbone, config.image_size, cache_dir, threads=config.threads,
        trunk_cache_dir=config.cache_dir or default_cache_dir(),
    )
    paths = [manifest.resolve(s) for s in manifest.samples]
    shas = [s.sha256 or file_sha256(p) for s, p in zip(manifest.samples, paths)]
    size = embedder.image_size

    def report(done: int, total: int) -> None:
        if progress:
            progress(span[0] + (span[1] - span[0]) * done / max(total, 1), f"embedding images {done}/{total}")

    sources = [lambda p=p: load_array(p, image_size=size) for p in paths]
    emb, misses = embed_images(
        sources, shas, embedder=embedder, views=VIEWS, progress=report, should_cancel=should_cancel
    )
    _check_cancel(should_cancel)
    return emb, embedder, misses


def train_classifier(
    manifest: Manifest,
    config: TrainConfig,
    workdir: str | Path,
    *,
    progress: ProgressFn | None = None,
    should_cancel: Callable[[], bool] | None = None,
) -> TrainResult:
    """Quick (and, with ``config.mode == "advanced"``, fine-tuned) classification training.

    Raises:
        EmptyManifest / NotEnoughTags / NotEnoughImagesPerTag / UnreadableImage / Cancelled.
    """
    start = time.perf_counter()
    workdir = Path(workdir)
    check_manifest(manifest)
    get_spec(config.backbone)
    cache_dir = Path(config.cache_dir) if config.cache_dir else workdir / "cache"
    notes: list[str] = []

    def step(frac: float, text: str) -> None:
        _check_cancel(should_cancel)
        if progress:
            progress(frac, text)

    step(0.0, "preparing")
    embeddings, embedder, misses = load_embeddings(
        manifest, config, cache_dir, progress=progress, should_cancel=should_cancel
    )
    logger.info("embedded %d new of %d images with %s", misses, len(manifest.samples), config.backbone)
    y = targets(manifest, manifest.samples)
    plan = plan_split(manifest, config)
    step(0.8, "evaluating")
    rows, fold_scores = evaluate_heads(manifest, plan, embeddings, y, seed=config.seed)
    metrics = compute_metrics("classification", manifest.tags, rows, multilabel=manifest.multilabel)
    mode_delivered = "quick"
    split_json = plan.to_json(manifest.samples)
    step(0.8, "training the final model")
    head = fit_head(*_train_views(embeddings, y, range(len(manifest.samples))), multilabel=manifest.multilabel, seed=config.seed)
    trunk_file = embedder.trunk_file
    if config.mode == "advanced":
        from training.ml.finetune import finetune_classifier

        outcome = finetune_classifier(
            manifest, config, embedder=embedder, plan=plan, quick_rows=rows, quick_head=head,
            workdir=workdir, progress=progress, should_cancel=should_cancel, embeddings=embeddings,
        )
        notes += outcome.notes
        if outcome.delivered and outcome.head is not None and outcome.trunk_file is not None:
            mode_delivered = "advanced"
            rows, head, trunk_file = outcome.rows, outcome.head, outcome.trunk_file
            metrics = compute_metrics("classification", manifest.tags, rows, multilabel=manifest.multilabel)
            split_json = outcome.split
    step(0.97, "saving the model")
    metrics.update(
        {
            "task": "classification",
            "tags": list(manifest.tags),
            "multilabel": manifest.multilabel,
            "negative_tag": manifest.negative_tag,
            "split": split_json,
            "validation_predictions": rows,
            "backbone": config.backbone,
            "image_size": embedder.image_size,
            "mode": config.mode,
            "mode_delivered": mode_delivered,
            "notes": notes,
            "embedded_images": misses,
        }
    )
    if plan.method == "kfold" and mode_delivered == "quick":
        acc = [f["accuracy"] for f in fold_scores]
        aps = [f["ap"] for f in fold_scores]
        metrics["kfold"] = {
            "k": plan.k,
            "accuracy_mean": float(np.mean(acc)),
            "accuracy_std": float(np.std(acc)),
            "map_mean": float(np.mean(aps)),
            "map_std": float(np.std(aps)),
            "folds": fold_scores,
        }
    model = artifacts.compose_classifier(
        trunk_file, image_size=embedder.image_size, weight=head.weight, bias=head.bias, multilabel=head.multilabel
    )
    val_ids = set(metrics["split"]["val_ids"])
    metadata = {
        "task": "classification",
        "tags": list(manifest.tags),
        "multilabel": manifest.multilabel,
        "negative_tag": manifest.negative_tag,
        "backbone": config.backbone,
        "image_size": embedder.image_size,
        "mode": config.mode,
        "mode_delivered": mode_delivered,
        "seed": config.seed,
        "input": "uint8 RGB image [height, width, 3]; centre crop + resize + normalisation inside the graph",
        "outputs": {"probabilities": "[1, K] in labels.txt order", "embedding": "[1, F] backbone features"},
        "validation_images": [str(manifest.resolve(s)) for s in manifest.samples if s.id in val_ids][:100],
    }
    metrics["train_seconds"] = round(time.perf_counter() - start, 3)
    out = artifacts.write_artifact(workdir / "model", model=model, metadata=metadata, metrics=metrics)
    step(1.0, "done")
    elapsed = time.perf_counter() - start
    return TrainResult(artifact_path=str(out), metrics=metrics, elapsed_seconds=elapsed, notes=notes)
