"""Detection training: split, cached-feature head training, evaluation, final retrain, artifact.

Quick mode freezes the whole ImageNet trunk, so its outputs are computed once per augmented view
(up to 8 views per image, 600 in all, through onnxruntime; see ``features``) and the FPN + FCOS head
trains on the cached maps (``head``). With a hold-out split the delivered head is the validated one
trained on over every image for ``Recipe.final_fraction`` of its steps (no second training from
scratch); k-fold trains it from scratch. Advanced mode then fine-tunes the stride-32 trunk blocks
together with the head (``finetune``), capped by ``config.budget_seconds``, and keeps the result
only if it beats quick on the validation split. ``benchmarks/ml_detection.py`` prints each phase's
time (raccoon: 200 images, 3 views each; the head's steps are most of the run).

:func:`train_detector` runs these steps in order, like torchvision's references: validate,
compute features, train and evaluate one model per fold, choose quick or advanced, train the
delivered model on every image, save.
"""

from __future__ import annotations

import copy
import json
import logging
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from training.ml import errors
from training.ml.config import TrainConfig
from training.ml.detection import data as ddata
from training.ml.detection import tiles
from training.ml.detection.evaluate import predict_images, validation_entry
from training.ml.detection.features import (
    FeatureStore,
    LazyImages,
    ViewCache,
    build_features,
    trunk_session,
    view_key,
    views_per_image,
)
from training.ml.detection.finetune import FinetuneRecipe, finetune_tail, planned_steps, trunk_tail
from training.ml.detection.head import (
    DEFAULT_IMAGE_SIZE,
    Recipe,
    auto_recipe,
    continued_steps,
    head_steps,
    train_head,
)
from training.ml.detection.model import STRIDES, DetectionHead, Detector
from training.ml.embeddings import default_cache_dir
from training.ml.images import file_sha256
from training.ml.manifest import Manifest, TrainResult
from training.ml.progress import Cancel, Phase, PhasedProgress, Progress
from training.ml.runtime import cores
from training.ml.split import SplitPlan, plan_split

__all__ = ["KFOLD_BELOW", "Recipe", "make_split", "train_detector"]

logger = logging.getLogger(__name__)

KFOLD_BELOW = 24  # automatic k-fold (k=3) for sets smaller than this
# Tiled prediction (training.ml.detection.tiles) is measured for recipes with the stride-8 level, the ones
# auto_recipe gives sets of small boxes, and delivered where its validation mAP@0.5 beats the whole image's by at
# least this much: each prediction then runs the model 1 + GRID^2 times. benchmarks/small_objects.py: +21 points on
# dozens of small objects per image, held out; on raccoon's large ones (no stride-8 level) -8.
TILES_MIN_GAIN = 0.01
TILE_RUNS = 1 + tiles.GRID**2


def make_split(manifest: Manifest, config: TrainConfig) -> SplitPlan:
    """The evaluation split (``training.ml.split``): the samples' own ``split`` field when given,
    else a seeded stratified hold-out; automatic k-fold (k=3) only below KFOLD_BELOW images, since
    every fold trains a detector."""
    k = config.kfold or (3 if len(manifest.samples) < KFOLD_BELOW else 1)
    return plan_split(manifest, replace(config, kfold=k))


# Seconds per unit of work, lite0 at 320 px on a 2-core worker. Only their ratios matter once the
# run has measured its first units (PhasedProgress scales the rest to this machine's speed). Ratios
# measured on raccoon on the shared 2-core dev box: a head step (two shards on two threads) costs 3-4 feature views, a
# validation image ~1.3 (its head on one torch thread), a fine-tuning step ~25, the ONNX export at the end ~80.
UNIT_SECONDS = {
    "prepare": 1.1,  # backbone + ONNX export of the trunk
    "view": 0.03,  # one augmented view through the trunk
    "head_step": 0.1,  # one batch of head training
    "eval_image": 0.04,  # one validation image: decode, trunk, head, NMS
    "finetune_step": 0.75,  # one batch through the stride-32 blocks and the head, with backward
    "eval_tuned_image": 0.36,
    "save": 2.4,  # ONNX export of the detector
}
# Trunk cost per pixel relative to lite0 (published multiply-adds at each model's own resolution).
TRUNK_COST = {"lite0": 1.0, "lite1": 1.35, "lite2": 1.65}
# A head step with the stride-8 level (P3, head.auto_recipe) against one without: 4x the locations
# (93 -> 349 ms a batch of 16 at 320 px, one thread).
P3_HEAD_COST = 3.7
# A head step in bf16 (Recipe.bf16) against float32: 7.5 s against 12.5 s for the quickstart's 252 steps.
BF16_HEAD_COST = 0.6


def unit_seconds(
    backbone: str, image_size: int, strides: tuple[int, ...] = STRIDES, bf16: bool = False
) -> dict[str, float]:
    """UNIT_SECONDS scaled to the backbone, the image size (every unit is per-pixel work), the head's levels and
    its precision."""
    pixels = (image_size / DEFAULT_IMAGE_SIZE) ** 2
    trunk = TRUNK_COST.get(backbone, 1.0)
    head = (P3_HEAD_COST if min(strides) == 8 else 1.0) * (BF16_HEAD_COST if bf16 else 1.0)
    scale = {"head_step": pixels * head, "save": trunk}
    return {k: v * scale.get(k, pixels * trunk) for k, v in UNIT_SECONDS.items()}


def tiled(recipe: Recipe) -> bool:
    """Whether training measures tiled prediction for this recipe (TILES_MIN_GAIN): it has the stride-8 level."""
    return min(recipe.strides) == 8


def plan_phases(manifest: Manifest, split: SplitPlan, recipe: Recipe, *, advanced: bool) -> list[Phase]:
    """Every phase of one run, in order, with its planned units, so that the progress fraction is
    over the whole run (every fold and the final training), not over the current phase."""
    n = len(manifest.samples)
    per = views_per_image(n, recipe)
    ft = FinetuneRecipe()
    phases = [
        Phase("prepare", "Preparing the backbone", "prepare", 1),
        Phase("features", f"Computing features of {n} images", "view", n * per),
    ]
    k = len(split.folds)
    for i, (train, val) in enumerate(split.folds, start=1):
        label = f"Fold {i} of {k}" if k > 1 else "Validation split"
        label += f" ({len(train)} train / {len(val)} validation images)"
        phases += [
            Phase(f"fold{i}.head", label, "head_step", head_steps(len(train) * per, recipe)),
            Phase(f"fold{i}.eval", label, "eval_image", len(val)),
        ]
        if tiled(recipe):
            phases.append(Phase(f"fold{i}.tiles", label, "eval_image", TILE_RUNS * len(val)))
        if advanced:
            phases += [
                Phase(f"fold{i}.finetune", label, "finetune_step", planned_steps(len(train) * per, recipe, ft)),
                Phase(f"fold{i}.eval_tuned", label, "eval_tuned_image", len(val)),
            ]
            if tiled(recipe):
                phases.append(Phase(f"fold{i}.tiles_tuned", label, "eval_tuned_image", TILE_RUNS * len(val)))
    final = f"Final training on all {n} images"
    if k == 1:  # the validated head continues on every image
        final_steps = continued_steps(head_steps(len(split.folds[0][0]) * per, recipe), recipe)
    else:
        final_steps = head_steps(n * per, recipe)
    phases.append(Phase("final.head", final, "head_step", final_steps))
    if advanced:
        phases.append(Phase("final.finetune", final, "finetune_step", planned_steps(n * per, recipe, ft)))
    phases.append(Phase("save", "Saving the model", "save", 1))
    return phases


@dataclass
class _Job:
    """What every step of one training shares."""

    manifest: Manifest
    config: TrainConfig
    recipe: Recipe
    tags: list[str]
    trunk: torch.nn.Module
    in_channels: tuple[int, int, int]
    session: Any
    store: FeatureStore
    progress: PhasedProgress
    ft: FinetuneRecipe = field(default_factory=FinetuneRecipe)
    budget: float = 0.0  # seconds per fine-tuning (advanced)

    @property
    def advanced(self) -> bool:
        return self.config.mode == "advanced"


@dataclass
class _Evaluation:
    """Out-of-fold predictions of the quick (and advanced) models, per image index."""

    predictions: dict[str, dict[int, list[dict[str, Any]]]] = field(
        default_factory=lambda: {"quick": {}, "advanced": {}}
    )
    fold_maps: dict[str, list[float]] = field(default_factory=lambda: {"quick": [], "advanced": []})
    ft_steps: list[int] = field(default_factory=list)
    # Hold-out: the validated quick head (before any fine-tuning) and its steps; the delivered head continues it.
    validated: tuple[DetectionHead, int] | None = None
    # Per kind whose tiled prediction was measured (tiled(recipe)): {"used", "whole_map", "tiled_map"}.
    tiles: dict[str, dict[str, Any]] = field(default_factory=dict)

    def rows(self, manifest: Manifest, kind: str) -> list[dict[str, Any]]:
        """validation_predictions of ``kind`` in manifest order."""
        return [
            validation_entry(manifest.samples[i], self.predictions[kind][i]) for i in sorted(self.predictions[kind])
        ]


def train_detector(
    manifest: Manifest,
    config: TrainConfig,
    workdir: str | Path,
    *,
    progress: Progress | None = None,
    should_cancel: Cancel | None = None,
    recipe: Recipe | None = None,
) -> TrainResult:
    """Train an FCOS detector on a detection manifest, evaluate it, retrain on all images, save it.

    Args:
        manifest: ``task == "detection"``; samples with boxes (images without any are negatives).
        config: backbone, mode, seed, split options, threads, budget (advanced).
        workdir: output folder; the artifact is ``workdir/model`` (a directory, like classification).
        progress: called with (fraction 0..1, stage text). The fraction is over the whole run and
            proportional to the expected time (see ``training.ml.progress.PhasedProgress``); the
            text is "<phase>: <detail>", e.g. "Fold 2 of 3 (16 train / 8 validation images):
            training the head, epoch 5 of 36" or "Final training on all 24 images: ...".
        should_cancel: polled often; when it returns True, ``errors.Cancelled`` is raised.
        recipe: head-training hyper-parameters (default :class:`Recipe`; tests shrink it).

    Returns:
        TrainResult with the artifact path and the metrics dict (see training/ml/metrics.py).

    Raises:
        errors.EmptyManifest, errors.NotEnoughImagesPerTag, errors.InvalidRegion,
        errors.UnreadableImage, errors.Cancelled.
    """
    t0 = time.perf_counter()
    targets, recipe = _check(manifest, config, recipe)
    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    split = make_split(manifest, config)
    folds = [val for _, val in split.folds]
    tracker = PhasedProgress(
        progress,
        should_cancel,
        plan_phases(manifest, split, recipe, advanced=config.mode == "advanced"),
        unit_seconds(config.backbone, recipe.image_size, recipe.strides, recipe.bf16),
    )

    tracker.start("prepare", f"loading {config.backbone} and exporting it to onnxruntime")
    job = _prepare(manifest, config, recipe, tracker)
    shas = (s.sha256 or file_sha256(manifest.resolve(s)) for s in manifest.samples)
    job.store = build_features(
        LazyImages(manifest, recipe.image_size),
        targets,
        [view_key(sha, target) for sha, target in zip(shas, targets, strict=True)],
        job.session,
        recipe,
        config.seed,
        tracker.start("features", f"{views_per_image(len(manifest.samples), recipe)} views per image"),
        config.threads or cores(),
        # Only a configured cache (the worker's) keeps views: benchmarks and tests without one start cold.
        ViewCache(config.cache_dir, config.backbone, recipe, max_bytes=config.view_cache_mb * 2**20)
        if config.cache_dir
        else None,
    )
    logger.info("features of %d views in %.1fs", job.store.owner.numel(), time.perf_counter() - t0)
    job.budget = max(30.0, config.budget_seconds - (time.perf_counter() - t0)) / (len(folds) + 1)
    for key in tracker.phases:
        if key.endswith(".finetune"):
            tracker.replan(key, max_seconds=job.budget)

    evaluation = _evaluate_folds(job, folds, t0)
    comparison = _comparison(job, evaluation)
    delivered, notes = _choose_mode(comparison)
    if comparison is not None:
        notes.append(_nested(job, evaluation, comparison))
    if delivered in evaluation.tiles:
        notes.append(_tiles_note(evaluation.tiles[delivered]))
    head, steps = _train_final(job, delivered, evaluation)
    if steps is not None:
        notes.append(f"Fine-tuned the stride-32 trunk blocks and the head for {steps} steps after the quick head.")
    num_images = len(manifest.samples)
    per = job.store.owner.numel() // max(num_images, 1)
    if evaluation.validated is not None:
        validated_steps = evaluation.validated[1]
        notes.append(
            f"Delivered model: the validated head ({validated_steps} steps) trained on for "
            f"{continued_steps(validated_steps, recipe)} more steps over all {num_images} images "
            f"({per} views per image)."
        )
    else:
        notes.append(
            f"Delivered model retrained on all {num_images} images with the evaluated recipe "
            f"({recipe.epochs}+ epochs, at least {recipe.min_steps} steps, over {per} views per image)."
        )
    if recipe.bf16:
        notes.append("The head's convolutions trained in bfloat16, which this CPU multiplies natively (AMX); the model "
                     "and its predictions are float32.")
    tracker.start("save", "exporting the detector to ONNX")
    artifact = _save(job, head, delivered, evaluation, work / "model")
    elapsed = time.perf_counter() - t0
    metrics = _metrics(job, split, evaluation, delivered, notes, elapsed, num_folds=len(folds), final_steps=steps,
                       comparison=comparison)
    (artifact / "metrics.json").write_text(json.dumps(metrics))
    tracker.finish()
    logger.info("detector trained in %.1fs, mAP@0.5 %.3f", elapsed, metrics["overall"]["ap"])
    return TrainResult(
        artifact_path=str(artifact), metrics=json.loads(json.dumps(metrics)), elapsed_seconds=elapsed, notes=notes
    )


def _check(manifest: Manifest, config: TrainConfig, recipe: Recipe | None) -> tuple[list[ddata.Target], Recipe]:
    """Validate the manifest and the recipe; returns every sample's boxes and the recipe to use."""
    from training.ml.backbones import get_spec

    if not manifest.samples:
        raise errors.EmptyManifest("The manifest has no images.")
    targets = ddata.validate_manifest_boxes(manifest)
    if not any(t.labels.numel() for t in targets):
        raise errors.NotEnoughImagesPerTag("Detection needs at least one image with a box.")
    if config.threads:
        torch.set_num_threads(config.threads)
    get_spec(config.backbone)
    if recipe is None:
        recipe = auto_recipe(targets, config.image_size)  # the stride-8 level when small boxes are common
    if recipe.image_size % 64:
        raise errors.MLError(f"Detection image_size must be a multiple of 64, got {recipe.image_size}.")
    return targets, recipe


def _prepare(manifest: Manifest, config: TrainConfig, recipe: Recipe, tracker: PhasedProgress) -> _Job:
    """The pretrained trunk and its onnxruntime session (features come next)."""
    from training.ml.backbones import create_backbone, get_spec

    trunk = create_backbone(config.backbone, image_size=recipe.image_size, pretrained=True)
    session = trunk_session(config.backbone, trunk, recipe.image_size, config.cache_dir or default_cache_dir())
    return _Job(
        manifest=manifest,
        config=config,
        recipe=recipe,
        tags=list(manifest.tags),
        trunk=trunk,
        in_channels=get_spec(config.backbone).stage_channels,
        session=session,
        store=FeatureStore([], torch.empty(0), torch.empty(0), torch.empty(0)),
        progress=tracker,
    )


def _evaluate_folds(job: _Job, folds: list[list[int]], t0: float) -> _Evaluation:
    """Train on one side of each fold and predict the other (quick, then advanced)."""
    from training.ml.metrics import compute_metrics

    manifest, recipe, config, tracker = job.manifest, job.recipe, job.config, job.progress
    out = _Evaluation()

    def record(kind: str, val: list[int], preds: list[list[dict[str, Any]]]) -> None:
        rows = []
        for i, p in zip(val, preds, strict=True):
            out.predictions.setdefault(kind, {})[i] = p
            rows.append(validation_entry(manifest.samples[i], p))
        out.fold_maps.setdefault(kind, []).append(compute_metrics("detection", job.tags, rows)["overall"]["ap"])
        logger.info("%s fold: mAP %.3f at %.1fs", kind, out.fold_maps[kind][-1], time.perf_counter() - t0)

    for k, val in enumerate(folds, start=1):
        val_set = set(val)
        train_views = job.store.views_of([i for i in range(len(manifest.samples)) if i not in val_set])
        val_images = LazyImages(manifest, recipe.image_size, val)
        head = train_head(
            job.store,
            train_views,
            len(job.tags),
            job.in_channels,
            recipe,
            config.seed,
            tracker.start(f"fold{k}.head", "training the head"),
            config.threads,
        )
        if len(folds) == 1:
            out.validated = (copy.deepcopy(head), head_steps(len(train_views), recipe))
        report = tracker.start(f"fold{k}.eval", "evaluating")
        preds = predict_images(
            job.session, head, val_images, recipe.image_size, job.tags, report, workers=config.threads or cores()
        )
        record("quick", val, preds)
        if tiled(recipe):
            report = tracker.start(f"fold{k}.tiles", "evaluating on tiles")
            preds = predict_images(job.session, head, val_images, recipe.image_size, job.tags, report,
                                   workers=config.threads or cores(), tiling=tiles.settings())
            record("quick.tiled", val, preds)
        if job.advanced:
            _, tail = trunk_tail(job.trunk)
            out.ft_steps.append(
                finetune_tail(
                    job.store,
                    train_views,
                    head,
                    tail,
                    recipe,
                    job.ft,
                    config.seed,
                    tracker.start(f"fold{k}.finetune", "fine-tuning"),
                    config.threads,
                    job.budget,
                    max_steps=_replayed_steps(config, k - 1),
                )
            )
            report = tracker.start(f"fold{k}.eval_tuned", "evaluating the fine-tuned model")
            preds = predict_images(
                job.session, head, val_images, recipe.image_size, job.tags, report, tail, config.threads or cores()
            )
            record("advanced", val, preds)
            if tiled(recipe):
                report = tracker.start(f"fold{k}.tiles_tuned", "evaluating the fine-tuned model on tiles")
                preds = predict_images(job.session, head, val_images, recipe.image_size, job.tags, report, tail,
                                       config.threads or cores(), tiling=tiles.settings())
                record("advanced.tiled", val, preds)
    _choose_tiles(job, out)
    return out


def _choose_tiles(job: _Job, evaluation: _Evaluation) -> None:
    """For each kind (quick, advanced) whose tiled predictions were measured: where their mAP@0.5 over every
    validation image beats the whole image's by TILES_MIN_GAIN, they become that kind's predictions (its figures,
    and the delivered model tiles); recorded in ``evaluation.tiles``."""
    from training.ml.metrics import compute_metrics

    def overall(predictions: dict[int, list[dict[str, Any]]]) -> float:
        rows = [validation_entry(job.manifest.samples[i], predictions[i]) for i in sorted(predictions)]
        return float(compute_metrics("detection", job.tags, rows)["overall"]["ap"])

    for kind in ("quick", "advanced"):
        tiled_preds = evaluation.predictions.pop(f"{kind}.tiled", None)
        tiled_maps = evaluation.fold_maps.pop(f"{kind}.tiled", None)
        if tiled_preds is None or tiled_maps is None:
            continue
        whole_map, tiled_map = overall(evaluation.predictions[kind]), overall(tiled_preds)
        used = tiled_map >= whole_map + TILES_MIN_GAIN
        if used:
            evaluation.predictions[kind], evaluation.fold_maps[kind] = tiled_preds, tiled_maps
        evaluation.tiles[kind] = {"used": bool(used), "whole_map": float(whole_map), "tiled_map": float(tiled_map)}
        logger.info("%s: tiles mAP %.3f vs whole %.3f: %s", kind, tiled_map, whole_map, "used" if used else "not used")


def _tiles_note(measured: dict[str, Any]) -> str:
    """The iteration's note on tiled prediction, as measured for the delivered kind."""
    figures = (f"mAP@0.5 {measured['tiled_map']:.3f} tiled against {measured['whole_map']:.3f} on the whole image, "
               "on the validation images")
    if measured["used"]:
        return (f"Predictions tile each image for its small objects: the whole image and {tiles.GRID}x{tiles.GRID} "
                f"overlapping tiles, their boxes merged ({figures}). Each prediction runs the model {TILE_RUNS} "
                "times, and every export tiles the same way.")
    return f"Tiled prediction was measured and not used ({figures}; it must gain at least {TILES_MIN_GAIN:.2f})."


def _replayed_steps(config: TrainConfig, index: int) -> int | None:
    """Fine-tuning steps number ``index`` of a replayed schedule (folds, then the final one), or None."""
    steps = (config.schedule or {}).get("finetune_steps") or []
    return int(steps[index]) if index < len(steps) else None


def _comparison(job: _Job, evaluation: _Evaluation) -> dict[str, Any] | None:
    """Advanced: quick vs advanced out-of-fold mAP@0.5 on the same validation images (None for quick)."""
    from training.ml.metrics import compute_metrics

    if not job.advanced:
        return None
    out: dict[str, Any] = {"images": len(evaluation.predictions["quick"])}
    for kind in ("quick", "advanced"):
        overall = compute_metrics("detection", job.tags, evaluation.rows(job.manifest, kind))["overall"]
        out[kind] = {"map": overall["ap"], "precision": overall["precision"], "recall": overall["recall"]}
    return out


def _nested(job: _Job, evaluation: _Evaluation, comparison: dict[str, Any]) -> str:
    """Advanced: the reported figures' predictions, ``evaluation.predictions["nested"]``: each validation image's
    come from the mode (quick or advanced) that scored the better mAP@0.5 on the *other* half of the validation
    images (alternate images in manifest order). Adds their figures to ``comparison["nested"]`` and returns the
    note saying so.

    The delivered mode is chosen on all the validation images (``_choose_mode``), so reporting that mode's own
    figures would flatter it: the choice would be made on the images it is judged on. Nested, each image is
    judged by a choice made without it, as advanced classification judges its fine-tuning epochs
    (``finetune.nested_epochs``)."""
    from training.ml.metrics import compute_metrics

    def overall(kind: str, images: list[int]) -> dict[str, Any]:
        rows = [validation_entry(job.manifest.samples[i], evaluation.predictions[kind][i]) for i in images]
        return compute_metrics("detection", job.tags, rows)["overall"]  # type: ignore[no-any-return]

    order = sorted(evaluation.predictions["quick"])
    halves = [order[0::2], order[1::2]]
    chosen: list[str] = []
    nested: dict[int, list[dict[str, Any]]] = {}
    for h in (0, 1):
        other = halves[1 - h]
        maps = {kind: (overall(kind, other)["ap"] or 0.0) if other else 0.0 for kind in ("quick", "advanced")}
        mode = "advanced" if maps["advanced"] > maps["quick"] else "quick"
        chosen.append(mode)
        nested.update({i: evaluation.predictions[mode][i] for i in halves[h]})
    evaluation.predictions["nested"] = nested
    figures = overall("nested", order)
    comparison["nested"] = {"map": figures["ap"], "precision": figures["precision"], "recall": figures["recall"],
                            "halves": chosen}
    return (
        f"Reported figures are nested: each half of the validation images (alternate images) is judged by the mode "
        f"that scored the better mAP on the other half ({chosen[0]}, then {chosen[1]}), so the choice between quick "
        f"and advanced is never made on the images it is judged on (mAP@0.5 {figures['ap']:.3f})."
    )


def _choose_mode(comparison: dict[str, Any] | None) -> tuple[str, list[str]]:
    """ "advanced" when its out-of-fold mAP (``_comparison``) beats quick's, else "quick"; and the note saying so."""
    if comparison is None:
        return "quick", []
    q_map, a_map = comparison["quick"]["map"], comparison["advanced"]["map"]
    if a_map > q_map:
        return "advanced", [f"Advanced fine-tuning beat quick on validation (mAP {a_map:.3f} vs {q_map:.3f})."]
    return "quick", [
        f"Advanced fine-tuning did not beat quick on validation (mAP {a_map:.3f} vs {q_map:.3f}); "
        "delivered the quick model."
    ]


def _train_final(job: _Job, delivered: str, evaluation: _Evaluation) -> tuple[DetectionHead, int | None]:
    """The delivered head (and, for advanced, the fine-tuned trunk blocks written back into the
    trunk), trained on every image; returns the head and the fine-tuning steps (None for quick).

    Hold-out: the validated head continues on every image for ``recipe.final_fraction`` of its steps
    (it has learnt the task; what is left is the validation images); k-fold: a head trained from
    scratch with the evaluated recipe (no single validated head saw most of the images)."""
    config, recipe, tracker = job.config, job.recipe, job.progress
    all_views = job.store.views_of(range(len(job.manifest.samples)))
    start, steps_from = evaluation.validated or (None, 0)
    head = train_head(
        job.store,
        all_views,
        len(job.tags),
        job.in_channels,
        recipe,
        config.seed,
        tracker.start("final.head", "training the head"),
        config.threads,
        start=start,
        steps=continued_steps(steps_from, recipe) if start is not None else None,
    )
    if delivered == "quick":
        if job.advanced:
            tracker.skip("final.finetune")
        return head, None
    tail_start, tail = trunk_tail(job.trunk)
    steps = _replayed_steps(config, len(evaluation.ft_steps)) or int(np.mean(evaluation.ft_steps))
    tracker.replan("final.finetune", units=steps)
    finetune_tail(
        job.store,
        all_views,
        head,
        tail,
        recipe,
        job.ft,
        config.seed,
        tracker.start("final.finetune", "fine-tuning"),
        config.threads,
        job.budget,
        max_steps=steps,
    )
    blocks: list[torch.nn.Module] = list(job.trunk.blocks)  # type: ignore[arg-type]
    for j, block in enumerate(tail):
        blocks[tail_start + j].load_state_dict(block.state_dict())
    return head, steps


def _save(job: _Job, head: DetectionHead, delivered: str, evaluation: _Evaluation, artifact: Path) -> Path:
    from training.ml.detection.predict import save_artifact

    manifest = job.manifest
    save_artifact(
        artifact,
        Detector(job.trunk, head).eval(),
        tags=job.tags,
        backbone=job.config.backbone,
        image_size=job.recipe.image_size,
        recipe=asdict(job.recipe),
        extra={
            "mode": job.config.mode,
            "mode_delivered": delivered,
            **({"tiles": tiles.settings()} if evaluation.tiles.get(delivered, {}).get("used") else {}),
            "validation_images": [
                str(manifest.resolve(manifest.samples[i])) for i in sorted(evaluation.predictions[delivered])
            ][:100],
        },
    )
    return artifact


def _metrics(
    job: _Job,
    split: SplitPlan,
    evaluation: _Evaluation,
    delivered: str,
    notes: list[str],
    elapsed: float,
    num_folds: int,
    final_steps: int | None = None,
    comparison: dict[str, Any] | None = None,
) -> dict[str, Any]:
    from training.ml.metrics import compute_metrics

    reported = "nested" if "nested" in evaluation.predictions else delivered  # see _nested
    rows = evaluation.rows(job.manifest, reported)
    metrics = compute_metrics("detection", job.tags, rows)
    metrics.update(
        task="detection",
        tags=job.tags,
        split=split.to_json(job.manifest.samples),
        validation_predictions=rows,
        backbone=job.config.backbone,
        image_size=job.recipe.image_size,
        mode=job.config.mode,
        mode_delivered=delivered,
        train_seconds=elapsed,
        recipe=asdict(job.recipe),
        finetune=asdict(job.ft) | {"steps": evaluation.ft_steps} if job.advanced else None,
        notes=notes,
        # What the budget let each fine-tuning take (folds, then the final one): TrainConfig.schedule replays it.
        schedule={"finetune_steps": [*evaluation.ft_steps, *([final_steps] if final_steps else [])]}
        if job.advanced else None,
        comparison=comparison,
        tiles={**evaluation.tiles[delivered], **tiles.settings()} if delivered in evaluation.tiles else None,
    )
    if num_folds > 1:
        if reported == delivered:
            maps = evaluation.fold_maps[delivered]
        else:
            by_image = dict(zip(sorted(evaluation.predictions[reported]), rows, strict=True))
            maps = [compute_metrics("detection", job.tags, [by_image[i] for i in val])["overall"]["ap"]
                    for _, val in split.folds]
        metrics["kfold"] = {
            "k": num_folds,
            "map_mean": float(np.mean(maps)),
            "map_std": float(np.std(maps)),
            "accuracy_mean": None,
            "accuracy_std": None,
        }
    return metrics
