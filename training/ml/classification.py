"""Quick classification: cached backbone embeddings + a linear head (softmax or sigmoid).

Recipe: every image is embedded once per backbone (with its flipped and zoomed views, see
``embeddings.VIEWS``, while some tag has fewer than ``AUGMENT_BELOW`` images); the head is an L2-regularised
linear model on standardised embeddings, fitted full-batch with L-BFGS (deterministic), its L2 penalty chosen by a
cross-validation over the images it is fitted on (:func:`choose_weight_decay`). Evaluation uses a seeded stratified
split (see :mod:`training.ml.split`); the delivered model is refitted on every image, its penalty chosen again.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from training.ml import artifacts
from training.ml.backbones import get_spec
from training.ml.config import TrainConfig
from training.ml.embeddings import VIEWS, Embedder, default_cache_dir, embed_images
from training.ml.errors import EmptyManifest, NotEnoughImagesPerTag, NotEnoughTags
from training.ml.images import file_sha256
from training.ml.linear_head import (
    SEARCH_FOLDS,
    WEIGHT_DECAY,
    LinearHead,
    fit_head,
    out_of_fold_probabilities,
    predicted_embeddings,
    prediction_rows,
    probability_scores,
    targets,
    train_views,
)
from training.ml.manifest import Manifest, TrainResult
from training.ml.metrics import compute_metrics
from training.ml.progress import check_cancel
from training.ml.split import SplitPlan, plan_split, stratum
from training.ml.thresholds import threshold_report

logger = logging.getLogger(__name__)

MIN_IMAGES_PER_TAG = 2
# The augmented views (embeddings.VIEWS) are embedded and trained on only while some tag has fewer images than
# this. What they add shrinks as the training set grows (benchmarks/ml_classification.py --views-curve, Lite0,
# accuracy on the images not drawn, mean of 10 draws, "full" only -> all three views, hymenoptera / its "wide" /
# its "small" variant): 10 per tag +2.2 / +1.2 / +2.1 points, 20 per tag +1.3 / -0.7 / +0.2, 40 per tag
# +0.3 / -0.7 / +0.7, 70 per tag 0.0 / -0.9 / +0.5; each view costs a whole embedding pass.
AUGMENT_BELOW = 30
# The head's L2 penalty (``linear_head.fit_head``'s weight_decay, per mean-reduced loss on standardised features) is
# chosen among these by a SEARCH_FOLDS-fold cross-validation over the images the head is fitted on: the one whose
# held-out log-loss is lowest (:func:`choose_weight_decay`). Measured with General's features
# (benchmarks/ml_classification.py --general, README "Small, hard classification sets"): on hymenoptera the search
# keeps 1e-3 to 1e-1, on its "wide" and "small" variants it takes 0.1 to 1, which raises their accuracy and takes
# 29-39 % off their held-out log-loss (the fixed 1e-3 was over-confident there).
WEIGHT_DECAYS: tuple[float, ...] = (1e-3, 1e-2, 1e-1, 1.0, 10.0)  # over linear_head.SEARCH_FOLDS folds
# In a project of more images than this the penalty stays linear_head.WEIGHT_DECAY: the search's 25 fits grow with
# the images (1,000 images: 0.6 s with 2 tags, 1.5 s with 10, per search), and with thousands of images the penalty
# matters little.
SEARCH_MAX_IMAGES = 1000
ProgressFn = Callable[[float, str], None]


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


def training_views(manifest: Manifest) -> tuple[str, ...]:
    """The views to embed and train on: every one of ``VIEWS`` while a used tag has fewer than ``AUGMENT_BELOW``
    images, otherwise only "full" (the view the delivered model predicts from)."""
    counts: dict[str, int] = {}
    for s in manifest.samples:
        for t in s.tags:
            counts[t] = counts.get(t, 0) + 1
    return VIEWS if not counts or min(counts.values()) < AUGMENT_BELOW else VIEWS[:1]


def cross_validated_probabilities(
    manifest: Manifest, embeddings: np.ndarray, y: np.ndarray, idx: Sequence[int], *, seed: int,
    weight_decays: Sequence[float] = (WEIGHT_DECAY,), framings: int = 1, folds: int = SEARCH_FOLDS,
) -> np.ndarray:
    """(len(weight_decays), len(idx), K): ``linear_head.out_of_fold_probabilities`` of the manifest's images
    ``idx``, stratified by their tags."""
    idx = list(idx)
    return out_of_fold_probabilities(embeddings[idx], y[idx], [stratum(manifest.samples[i]) for i in idx],
                                     seed=seed, multilabel=manifest.multilabel, weight_decays=weight_decays,
                                     framings=framings, folds=folds)


def penalty_search(manifest: Manifest) -> dict[str, Any] | None:
    """How :func:`choose_weight_decay` searches for ``manifest`` ({"folds", "candidates"}, recorded in the metrics
    as "weight_decay_search"), or None where it does not (more than ``SEARCH_MAX_IMAGES`` images: the penalty is
    ``linear_head.WEIGHT_DECAY``). The whole manifest decides, so the heads evaluated on its folds and the delivered
    one are fitted the same way."""
    if len(manifest.samples) > SEARCH_MAX_IMAGES:
        return None
    return {"folds": SEARCH_FOLDS, "candidates": list(WEIGHT_DECAYS)}


def choose_weight_decay(
    manifest: Manifest, embeddings: np.ndarray, y: np.ndarray, idx: Sequence[int], *, seed: int, framings: int = 1
) -> float:
    """The head's L2 penalty for the images ``idx``: of ``WEIGHT_DECAYS``, the one with the lowest log-loss in
    :func:`cross_validated_probabilities` over them (the first on a tie). ``linear_head.WEIGHT_DECAY`` where
    ``idx`` has fewer than 2 images or :func:`penalty_search` says the manifest is not searched."""
    if len(idx) < 2 or penalty_search(manifest) is None:
        return WEIGHT_DECAY
    truth = y[list(idx)]
    probs = cross_validated_probabilities(manifest, embeddings, y, idx, seed=seed, weight_decays=WEIGHT_DECAYS,
                                          framings=framings)
    losses = [probability_scores(p, truth, manifest.multilabel)[1] for p in probs]
    return WEIGHT_DECAYS[int(np.argmin(losses))]


def fit_quick_head(
    manifest: Manifest, embeddings: np.ndarray, y: np.ndarray, idx: Sequence[int], *, seed: int, framings: int = 1
) -> tuple[LinearHead, float]:
    """Quick training's head on the images ``idx``: the penalty :func:`choose_weight_decay` picks among them, then
    one fit on every view of them. Returns the head and its penalty."""
    weight_decay = choose_weight_decay(manifest, embeddings, y, idx, seed=seed, framings=framings)
    head = fit_head(*train_views(embeddings, y, idx), multilabel=manifest.multilabel, weight_decay=weight_decay)
    return head, weight_decay


def evaluate_heads(
    manifest: Manifest, plan: SplitPlan, embeddings: np.ndarray, y: np.ndarray, *, seed: int, framings: int = 1
) -> tuple[list[dict[str, Any]], list[dict[str, float]]]:
    """Fit one head per fold (:func:`fit_quick_head` on its training images); return out-of-fold validation rows
    (manifest order) and per-fold {"accuracy", "ap", "weight_decay"}."""
    rows: dict[int, dict[str, Any]] = {}
    fold_scores = []
    predicted = predicted_embeddings(embeddings, framings)
    for train_idx, val_idx in plan.folds:
        head, weight_decay = fit_quick_head(manifest, embeddings, y, train_idx, seed=seed, framings=framings)
        probs = head.predict_proba(predicted[val_idx])
        for i, row in zip(val_idx, prediction_rows(manifest, val_idx, probs), strict=True):
            rows[i] = row
        fold = compute_metrics(
            "classification", manifest.tags, [rows[i] for i in val_idx], multilabel=manifest.multilabel
        )
        fold_scores.append({"accuracy": fold["overall"]["accuracy"], "ap": fold["overall"]["ap"],
                            "weight_decay": weight_decay})
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
    """(N, V, F) embeddings of every sample (cache first); also the (first framing's) embedder and the miss count.

    The views are :func:`training_views`; with several ``config.framings`` the views of each framing follow one
    another: V = len(views) * framings.
    """
    # The trunk ONNX depends only on (backbone, size, pooling): without a configured cache it goes to the
    # machine-wide default_cache_dir() rather than being re-exported for every workdir.
    embedders = [
        Embedder(
            config.backbone, config.image_size, cache_dir, threads=config.threads,
            trunk_cache_dir=config.cache_dir or default_cache_dir(), framing=framing, pooling=config.pooling,
        )
        for framing in config.framings
    ]
    paths = [manifest.resolve(s) for s in manifest.samples]
    shas = [s.sha256 or file_sha256(p) for s, p in zip(manifest.samples, paths, strict=True)]
    views = training_views(manifest)
    parts, misses = [], 0
    step = (span[1] - span[0]) / len(embedders)
    for j, embedder in enumerate(embedders):
        lo, hi = span[0] + step * j, span[0] + step * (j + 1)

        def report(done: int, total: int, lo: float = lo, hi: float = hi) -> None:
            if progress:
                progress(lo + (hi - lo) * done / max(total, 1), f"embedding images {done}/{total}")

        sources = [lambda p=p, e=embedder: e.load(p) for p in paths]
        emb, missed = embed_images(
            sources, shas, embedder=embedder, views=views, progress=report, should_cancel=should_cancel
        )
        check_cancel(should_cancel)
        parts.append(emb)
        misses += missed
    return np.concatenate(parts, axis=1), embedders[0], misses


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
        check_cancel(should_cancel)
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
    framings = config.framings
    rows, fold_scores = evaluate_heads(manifest, plan, embeddings, y, seed=config.seed, framings=len(framings))
    metrics = compute_metrics("classification", manifest.tags, rows, multilabel=manifest.multilabel)
    mode_delivered = "quick"
    split_json: dict[str, Any] | None = plan.to_json(manifest.samples)
    step(0.8, "training the final model")
    every = range(len(manifest.samples))
    head, penalty = fit_quick_head(manifest, embeddings, y, every, seed=config.seed, framings=len(framings))
    weight_decay: float | None = penalty  # None once a fine-tuned head is delivered
    trunk_file = embedder.trunk_file
    schedule: dict[str, list[int]] | None = None  # what a budget-capped run took (TrainConfig.schedule replays it)
    comparison: dict[str, Any] | None = None  # advanced: quick vs advanced on the same validation images
    recipe = config  # the delivered model's backbone / size / framings
    if config.mode == "advanced":
        from training.ml.finetune import finetune_classifier
        from training.ml.recipe_search import Tried, recipe_label, scores_on, search_recipes

        def evaluate(cfg: TrainConfig) -> Tried:
            t, label = time.perf_counter(), recipe_label(cfg)
            step(0.8, f"advanced: trying {label}")

            def report(frac: float, text: str) -> None:
                if progress:
                    progress(frac, f"advanced: {label}, {text}")

            emb, emb_r, _ = load_embeddings(manifest, cfg, cache_dir, progress=report, should_cancel=should_cancel,
                                            span=(0.8, 0.82))
            cand_rows, _ = evaluate_heads(manifest, plan, emb, y, seed=config.seed, framings=len(cfg.framings))
            return Tried(cfg, label, cand_rows, emb, emb_r, time.perf_counter() - t)

        budget = max(float(config.budget_seconds), 1.0)
        quick = Tried(config, recipe_label(config), rows, embeddings, embedder, time.perf_counter() - start)
        search = search_recipes(manifest, config, plan, quick, evaluate=evaluate, deadline=start + budget / 2)
        notes += search.notes
        comparison = search.comparison
        if search.delivered:
            mode_delivered = "advanced"
            recipe, embedder, embeddings = search.chosen.config, search.chosen.embedder, search.chosen.embeddings
            framings, rows, trunk_file = recipe.framings, search.rows, search.chosen.embedder.trunk_file
            head, weight_decay = fit_quick_head(manifest, embeddings, y, every, seed=config.seed,
                                                framings=len(framings))
            metrics = compute_metrics("classification", manifest.tags, rows, multilabel=manifest.multilabel)
        left = budget - (time.perf_counter() - start)
        outcome = finetune_classifier(
            manifest, dataclasses.replace(recipe, budget_seconds=max(left, 1.0)), embedder=embedder, plan=plan,
            quick_rows=rows, quick_head=head, workdir=workdir, progress=progress, should_cancel=should_cancel,
            embeddings=embeddings[:, : embeddings.shape[1] // len(framings)],
        )
        notes += outcome.notes
        schedule = {"finetune_epochs": outcome.epochs, "recipes": [search.tried]}
        if outcome.delivered and outcome.head is not None and outcome.trunk_file is not None and outcome.comparison:
            # Side by side with quick's own model on the fine-tuning's validation images.
            ids = [r["id"] for r in outcome.rows]
            comparison = {**outcome.comparison, "quick": scores_on(manifest, quick.rows, ids),
                          "recipes": search.comparison["recipes"], "recipe_images": search.comparison["images"]}
            mode_delivered = "advanced"
            rows, head, trunk_file = outcome.rows, outcome.head, outcome.trunk_file
            weight_decay = None  # the fine-tuned tail's head, trained with the tail (finetune.py)
            if len(framings) > 1:  # the fine-tuned tail learnt, and was measured, on the first framing only
                notes.append(f"Advanced training fine-tunes on the {embedder.framing} framing: the delivered model "
                             f"uses that framing only, not {' and '.join(framings)}.")
                framings = (embedder.framing,)
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
            "backbone": recipe.backbone,
            "image_size": embedder.image_size,
            "framings": list(framings),
            "pooling": recipe.pooling,
            "weight_decay": weight_decay,  # the delivered linear head's L2 penalty (choose_weight_decay)
            "weight_decay_search": penalty_search(manifest) if weight_decay is not None else None,
            "views": list(training_views(manifest)),
            "mode": config.mode,
            "mode_delivered": mode_delivered,
            "notes": notes,
            "schedule": schedule,
            "comparison": comparison,
            "embedded_images": misses,
        }
    )
    if manifest.multilabel:  # per-tag thresholds chosen on the validation predictions (training.ml.thresholds)
        metrics["thresholds"] = threshold_report(manifest.tags, rows)
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
        trunk_file, image_size=embedder.image_size, weight=head.weight, bias=head.bias, multilabel=head.multilabel,
        framings=framings,
    )
    val_ids = set(metrics["split"]["val_ids"])
    metadata = {
        "task": "classification",
        "tags": list(manifest.tags),
        "multilabel": manifest.multilabel,
        "negative_tag": manifest.negative_tag,
        "backbone": recipe.backbone,
        "image_size": embedder.image_size,
        "framings": list(framings),
        "pooling": recipe.pooling,
        "draft_factor": embedder.draft,
        "mode": config.mode,
        "mode_delivered": mode_delivered,
        "seed": config.seed,
        "tag_thresholds": metrics["thresholds"]["per_tag"] if manifest.multilabel else None,
        "input": "uint8 RGB image [height, width, 3]; framing (crop) + resize + normalisation inside the graph",
        "outputs": {"probabilities": "[1, K] in labels.txt order", "embedding": "[1, F] backbone features"},
        "validation_images": [str(manifest.resolve(s)) for s in manifest.samples if s.id in val_ids][:100],
    }
    metrics["train_seconds"] = round(time.perf_counter() - start, 3)
    out = artifacts.write_artifact(workdir / "model", model=model, metadata=metadata, metrics=metrics)
    if config.int8:
        from training.ml.quantize import add_int8_model, served

        step(0.99, "Quantising the model to int8")
        held = [s for s in manifest.samples if s.id in val_ids][:100]
        try:  # calibrated on every image (the final head is trained on them all), measured on the validation ones
            report = add_int8_model(out, calibration_images=[manifest.resolve(s) for s in manifest.samples],
                                    images=[manifest.resolve(s) for s in held],
                                    truth={manifest.resolve(s).stem: list(s.tags) for s in held})
            # For the iteration page: which model predictions run, and why.
            metrics["int8"] = {"served": served(report), **{k: report.get(k) for k in (
                "images", "timed_images", "top1_agreement", "fp32_map", "int8_map", "map_delta", "speedup", "cpu_vnni",
                "image_size", "fp32_image_size")}}
        except Exception as exc:  # noqa: BLE001 - the int8 model is an optional extra: the fp32 one is served
            logger.exception("int8 quantisation of %s failed", out)
            notes.append(f"No int8 model: quantisation failed ({type(exc).__name__}); the fp32 model is served.")
        (out / artifacts.METRICS_FILE).write_text(json.dumps(metrics))  # metrics["notes"] is ``notes``
    step(1.0, "done")
    elapsed = time.perf_counter() - start
    return TrainResult(artifact_path=str(out), metrics=metrics, elapsed_seconds=elapsed, notes=notes)
