"""Detection training: split, cached-feature head training, evaluation, final retrain, artifact.

Quick mode freezes the whole ImageNet trunk, so its outputs are computed once per augmented view
(8 views per image, through onnxruntime) and the FPN + FCOS head trains on the cached maps: raccoon
(160 train images) reaches mAP@0.5 0.96 in ~90 s on 2 cores, evaluation and final retrain included.
Advanced mode then fine-tunes the stride-32 trunk blocks (C4 -> C5, BatchNorm frozen) together with
the head on the cached C4 maps, capped by ``config.budget_seconds``, and keeps the result only if it
beats quick on the validation split. Head training runs on one torch thread unless
``config.threads`` says otherwise: deterministic, and immune to the 10x slowdown a busy second core
causes.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from training.ml import errors
from training.ml.config import TrainConfig
from training.ml.detection import data as ddata
from training.ml.detection.model import (
    STRIDES,
    DetectionHead,
    Detector,
    assign_targets,
    decode,
    fcos_loss,
    locations,
)
from training.ml.manifest import Manifest, Sample, TrainResult
from training.ml.runtime import export_torch, make_session, torch_threads
from training.ml.split import SplitPlan, plan_split

logger = logging.getLogger(__name__)

Progress = Callable[[float, str], None]
Cancel = Callable[[], bool]

DEFAULT_IMAGE_SIZE = 320
KFOLD_BELOW = 24  # automatic k-fold (k=3) for sets smaller than this


@dataclass(frozen=True)
class Recipe:
    """Head-training hyper-parameters (quick mode); stored in the artifact and the metrics."""

    image_size: int = DEFAULT_IMAGE_SIZE
    views_per_image: int = 8
    max_views: int = 3000  # memory cap: ~0.15 MB of fp16 C4+C5 features per view at 320 px
    epochs: int = 3
    min_steps: int = 250  # small sets get more epochs (fork/scissors: 28 images -> ~18 epochs)
    batch_size: int = 16
    lr: float = 2e-3
    weight_decay: float = 1e-4
    channels: int = 64
    num_convs: int = 2
    strides: tuple[int, ...] = STRIDES


class _Run:
    """Progress / cancellation helper: maps stage fractions into the overall 0..1 range."""

    def __init__(self, progress: Progress | None, should_cancel: Cancel | None) -> None:
        self.progress = progress
        self.should_cancel = should_cancel
        self.lo, self.hi = 0.0, 1.0

    def stage(self, lo: float, hi: float) -> None:
        self.lo, self.hi = lo, hi

    def report(self, fraction: float, text: str) -> None:
        self.check()
        if self.progress is not None:
            self.progress(self.lo + (self.hi - self.lo) * min(max(fraction, 0.0), 1.0), text)

    def check(self) -> None:
        if self.should_cancel is not None and self.should_cancel():
            raise errors.Cancelled("Training was cancelled.")


# --------------------------------------------------------------------------- split


def make_split(manifest: Manifest, config: TrainConfig) -> SplitPlan:
    """The evaluation split (``training.ml.split``): the samples' own ``split`` field when given,
    else a seeded stratified hold-out; automatic k-fold (k=3) only below KFOLD_BELOW images, since
    every fold trains a detector."""
    k = config.kfold or (3 if len(manifest.samples) < KFOLD_BELOW else 1)
    return plan_split(manifest, replace(config, kfold=k))


# --------------------------------------------------------------------------- features


class LazyImages(Sequence[Tensor]):
    """The manifest's images (or a subset), decoded on access: nothing but the cached features stays
    in memory, so peak RSS does not grow with the number of photos."""

    def __init__(self, manifest: Manifest, image_size: int, indices: Sequence[int] | None = None) -> None:
        self.manifest = manifest
        self.image_size = image_size
        self.indices = list(range(len(manifest.samples)) if indices is None else indices)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> Tensor:  # type: ignore[override]
        sample = self.manifest.samples[self.indices[i]]
        return ddata.load_rgb(self.manifest.resolve(sample), self.image_size)

    def __iter__(self) -> Iterator[Tensor]:
        return (self[i] for i in range(len(self)))


class FeatureStore:
    """Augmented views of every image, pushed once through the frozen trunk (fp16 maps + targets)."""

    def __init__(self, feats: list[Tensor], labels: Tensor, ltrb: Tensor, owner: Tensor) -> None:
        self.feats = feats  # [C3, C4, C5], each (V, C, H, W) float16
        self.labels = labels  # (V, L) int16, -1 = background
        self.ltrb = ltrb  # (V, L, 4) float32
        self.owner = owner  # (V,) image index of each view

    def views_of(self, images: Sequence[int]) -> Tensor:
        wanted = torch.zeros(int(self.owner.max()) + 1 if self.owner.numel() else 0, dtype=torch.bool)
        wanted[torch.as_tensor(list(images), dtype=torch.long)] = True
        return torch.nonzero(wanted[self.owner]).flatten()


class ImageToStages(torch.nn.Module):
    """uint8 (H, W, 3) image -> resize + normalise -> trunk stages (C3, C4, C5); exported to ONNX."""

    def __init__(self, trunk: torch.nn.Module, image_size: int) -> None:
        super().__init__()
        self.trunk = trunk
        self.image_size = image_size

    def forward(self, image: Tensor) -> tuple[Tensor, ...]:
        return tuple(self.trunk.forward_stages(ddata.preprocess(image, self.image_size)))  # type: ignore[operator]


def trunk_session(trunk: torch.nn.Module, image_size: int, path: Path, threads: int | None) -> Any:
    """Export the trunk (with the preprocessing) to ONNX and open it in onnxruntime (the fast path)."""
    wrapper = ImageToStages(trunk, image_size).eval()  # eval(): the exporter traces in the wrapper's mode
    example = torch.zeros(image_size + 17, image_size + 41, 3, dtype=torch.uint8)
    export_torch(
        wrapper,
        (example,),
        path,
        input_names=["image"],
        output_names=["c3", "c4", "c5"],
        dynamic_axes={"image": {0: "height", 1: "width"}},
    )
    return make_session(path, threads or torch.get_num_threads(), memory_arena=False)


def build_features(
    images: Sequence[Tensor],
    targets: list[ddata.Target],
    session: Any,
    recipe: Recipe,
    seed: int,
    run: _Run,
) -> FeatureStore:
    """Render ``views_per_image`` views per image (view 0 un-augmented) and cache trunk outputs."""
    s = recipe.image_size
    points, strides, levels = locations(s, recipe.strides)
    n = len(images)
    per = max(1, min(recipe.views_per_image, recipe.max_views // max(n, 1)))
    rng = np.random.default_rng(seed + 7919)
    feats: list[list[np.ndarray]] = [[], [], []]
    labels, ltrbs, owner = [], [], []
    total = n * per
    first_stage = 0 if recipe.strides[0] == 8 else 1

    for i, (img, tgt) in enumerate(zip(images, targets, strict=True)):
        for v in range(per):
            with torch_threads(1):
                if v == 0:
                    view, boxes, labs = ddata.full_view(img, tgt, s)
                else:
                    view, boxes, labs = ddata.random_view(img, tgt, s, rng)
                tl, tb = assign_targets(points, strides, levels, boxes, labs)
            labels.append(tl.to(torch.int16))
            ltrbs.append(tb)
            owner.append(i)
            # Batch 1 is the fastest onnxruntime setting here; the in-graph resize is an identity.
            outs = session.run(None, {"image": view.permute(1, 2, 0).numpy()})
            for stage, (lst, o) in enumerate(zip(feats, outs, strict=True)):
                if stage >= first_stage:  # C3 is not cached when the head starts at P4
                    lst.append(o.astype(np.float16))
        run.report((i + 1) / n, f"computing features ({(i + 1) * per}/{total} views)")
    return FeatureStore(
        [torch.from_numpy(np.concatenate(f)) if f else torch.empty(0) for f in feats],
        torch.stack(labels),
        torch.stack(ltrbs),
        torch.tensor(owner, dtype=torch.long),
    )


# --------------------------------------------------------------------------- head training


def train_head(
    store: FeatureStore,
    view_idx: Tensor,
    num_classes: int,
    in_channels: tuple[int, int, int],
    recipe: Recipe,
    seed: int,
    run: _Run,
    text: str,
    threads: int | None = None,
) -> DetectionHead:
    """Train a fresh FPN + FCOS head on cached features (AdamW, warm-up + cosine)."""
    torch.manual_seed(seed)
    head = DetectionHead(
        in_channels, num_classes, channels=recipe.channels, num_convs=recipe.num_convs, strides=recipe.strides
    )
    points, _, _ = locations(recipe.image_size, recipe.strides)
    g = torch.Generator().manual_seed(seed)
    nv = len(view_idx)
    steps_per_epoch = max(1, math.ceil(nv / recipe.batch_size))
    epochs = max(recipe.epochs, math.ceil(recipe.min_steps / steps_per_epoch))
    total = steps_per_epoch * epochs
    opt = torch.optim.AdamW(head.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    warm = min(100, total // 5)

    def lr_at(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    head.train()
    with torch_threads(threads or 1):
        _fit(head, opt, sched, store, view_idx, recipe, points, g, run, text, epochs, steps_per_epoch)
    return head.eval()


def _fit(
    head: DetectionHead,
    opt: torch.optim.Optimizer,
    sched: Any,
    store: FeatureStore,
    view_idx: Tensor,
    recipe: Recipe,
    points: Tensor,
    g: torch.Generator,
    run: _Run,
    text: str,
    epochs: int,
    steps_per_epoch: int,
) -> None:
    nv = len(view_idx)
    total = epochs * steps_per_epoch
    step = 0
    for epoch in range(epochs):
        perm = view_idx[torch.randperm(nv, generator=g)]
        running = 0.0
        for b in range(steps_per_epoch):
            idx = perm[b * recipe.batch_size : (b + 1) * recipe.batch_size]
            feats = [f[idx].float() if f.numel() else f for f in store.feats]
            out = head(feats)
            loss = fcos_loss(out, store.labels[idx].long(), store.ltrb[idx], points)
            opt.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            torch.nn.utils.clip_grad_norm_(head.parameters(), 10.0)
            opt.step()
            sched.step()
            running += float(loss.detach())
            step += 1
            run.report(step / total, f"{text}: epoch {epoch + 1}/{epochs}")
        logger.debug("%s epoch %d loss %.4f", text, epoch + 1, running / steps_per_epoch)


# --------------------------------------------------------------------------- advanced: tail fine-tuning


@dataclass(frozen=True)
class FinetuneRecipe:
    """Advanced mode: the stride-32 trunk blocks (C4 -> C5) are fine-tuned with the head on the
    cached C4 maps (BatchNorm frozen), warm-started from the quick head; capped by the budget."""

    epochs: int = 4
    head_lr: float = 5e-4
    tail_lr: float = 1e-4
    weight_decay: float = 1e-4


def trunk_tail(trunk: torch.nn.Module) -> tuple[int, torch.nn.Sequential]:
    """Index of the first block after C4, and a copy of the blocks from there to C5."""
    ends: list[int] = list(trunk._pyramid_ends)  # type: ignore[arg-type]
    blocks: list[torch.nn.Module] = list(trunk.blocks)  # type: ignore[arg-type]
    start = int(ends[1]) + 1
    return start, copy.deepcopy(torch.nn.Sequential(*blocks[start : int(ends[2]) + 1]))


def finetune_tail(
    store: FeatureStore,
    view_idx: Tensor,
    head: DetectionHead,
    tail: torch.nn.Sequential,
    recipe: Recipe,
    ft: FinetuneRecipe,
    seed: int,
    run: _Run,
    text: str,
    threads: int | None,
    budget_seconds: float,
    max_steps: int | None = None,
) -> int:
    """Fine-tune ``tail`` and ``head`` in place; returns the number of steps taken.

    The planned step count (``ft.epochs`` over the views) shrinks to fit ``budget_seconds`` after
    timing the first steps; ``max_steps`` pins it (the final retrain repeats the evaluated count).
    """
    torch.manual_seed(seed + 1)
    g = torch.Generator().manual_seed(seed + 1)
    points, _, _ = locations(recipe.image_size, recipe.strides)
    for m in tail.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.requires_grad_(False)  # frozen BatchNorm: batch statistics of 16 views are too noisy
    tail.eval()
    head.train()
    tail_params = [p for p in tail.parameters() if p.requires_grad]
    trainable = tail_params + list(head.parameters())
    opt = torch.optim.AdamW(
        [{"params": tail_params, "lr": ft.tail_lr}, {"params": list(head.parameters()), "lr": ft.head_lr}],
        weight_decay=ft.weight_decay,
    )
    nv = len(view_idx)
    steps_per_epoch = max(1, math.ceil(nv / recipe.batch_size))
    plan = [max_steps if max_steps is not None else steps_per_epoch * ft.epochs]
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda step: 0.5 * (1 + math.cos(math.pi * min(step / plan[0], 1.0)))
    )
    start = time.perf_counter()
    step = 0
    with torch_threads(threads or 1):
        while step < plan[0]:
            perm = view_idx[torch.randperm(nv, generator=g)]
            for b in range(steps_per_epoch):
                if step >= plan[0]:
                    break
                idx = perm[b * recipe.batch_size : (b + 1) * recipe.batch_size]
                c4 = store.feats[1][idx].float()
                feats = [store.feats[0][idx].float() if store.feats[0].numel() else store.feats[0], c4, tail(c4)]
                loss = fcos_loss(head(feats), store.labels[idx].long(), store.ltrb[idx], points)
                opt.zero_grad(set_to_none=True)
                loss.backward()  # type: ignore[no-untyped-call]
                torch.nn.utils.clip_grad_norm_(trainable, 10.0)
                opt.step()
                sched.step()
                step += 1
                if step == 3 and max_steps is None:
                    per_step = (time.perf_counter() - start) / 3
                    plan[0] = max(3, min(plan[0], int(budget_seconds / per_step)))
                run.report(step / plan[0], f"{text}: step {step}/{plan[0]}")
    head.eval()
    return step


# --------------------------------------------------------------------------- prediction


@torch.inference_mode()
def predict_images(
    session: Any,
    head: DetectionHead,
    images: Sequence[Tensor],
    image_size: int,
    tags: Sequence[str],
    run: _Run,
    tail: torch.nn.Module | None = None,
) -> list[list[dict[str, Any]]]:
    """Predictions (metrics' dict form) for whole images: the Predictor's preprocessing and decoding.
    ``tail`` (advanced mode) recomputes C5 from C4 with the fine-tuned blocks."""
    points, _, _ = locations(image_size, head.strides)
    out: list[list[dict[str, Any]]] = []
    for i, img in enumerate(images):
        feats = [torch.from_numpy(f) for f in session.run(None, {"image": img.permute(1, 2, 0).numpy()})]
        if tail is not None:
            feats[2] = tail(feats[1])
        boxes, scores, labels = decode(head(feats), points, image_size)
        out.append(detections_to_dicts(boxes, scores, labels, tags))
        run.report((i + 1) / len(images), "evaluating")
    return out


def detections_to_dicts(boxes: Tensor, scores: Tensor, labels: Tensor, tags: Sequence[str]) -> list[dict[str, Any]]:
    """xyxy normalised detections -> [{"tag", "probability", "box": {left, top, width, height}}]."""
    res = []
    for (x0, y0, x1, y1), p, c in zip(boxes.tolist(), scores.tolist(), labels.tolist(), strict=True):
        box = {"left": x0, "top": y0, "width": x1 - x0, "height": y1 - y0}
        res.append({"tag": tags[int(c)], "probability": float(p), "box": box})
    return res


def _true_entry(sample: Sample, predictions: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": sample.id,
        "tags": sorted({b.tag for b in sample.boxes}),
        "boxes": [asdict(b) for b in sample.boxes],
        "predictions": predictions,
    }


# --------------------------------------------------------------------------- public entry point


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
        progress: called with (fraction 0..1, stage text).
        should_cancel: polled often; when it returns True, ``errors.Cancelled`` is raised.
        recipe: head-training hyper-parameters (default :class:`Recipe`; tests shrink it).

    Returns:
        TrainResult with the artifact path and the metrics dict (see training/ml/metrics.py).

    Raises:
        errors.EmptyManifest, errors.NotEnoughImagesPerTag, errors.InvalidRegion,
        errors.UnreadableImage, errors.Cancelled.
    """
    from training.ml.backbones import create_backbone, get_spec
    from training.ml.detection.predict import save_artifact
    from training.ml.metrics import compute_metrics

    t0 = time.perf_counter()
    run = _Run(progress, should_cancel)
    if not manifest.samples:
        raise errors.EmptyManifest("The manifest has no images.")
    targets = ddata.validate_manifest_boxes(manifest)
    if not any(t.labels.numel() for t in targets):
        raise errors.NotEnoughImagesPerTag("Detection needs at least one image with a box.")
    if config.threads:
        torch.set_num_threads(config.threads)
    get_spec(config.backbone)
    if recipe is None:
        recipe = Recipe(image_size=config.image_size or DEFAULT_IMAGE_SIZE)
    if recipe.image_size % 64:
        raise errors.MLError(f"Detection image_size must be a multiple of 64, got {recipe.image_size}.")
    tags = list(manifest.tags)
    notes: list[str] = []
    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)

    run.stage(0.0, 0.05)
    images = LazyImages(manifest, recipe.image_size)
    split = make_split(manifest, config)

    trunk = create_backbone(config.backbone, image_size=recipe.image_size, pretrained=True)
    in_channels = get_spec(config.backbone).stage_channels
    session = trunk_session(trunk, recipe.image_size, work / "trunk.onnx", config.threads)
    run.stage(0.05, 0.25)
    store = build_features(images, targets, session, recipe, config.seed, run)
    logger.info("features of %d views in %.1fs", store.owner.numel(), time.perf_counter() - t0)

    # Evaluation: train on one side, predict the other (every fold for k-fold).
    advanced = config.mode == "advanced"
    folds = [val for _, val in split.folds]
    vps: dict[str, dict[int, list[dict[str, Any]]]] = {"quick": {}, "advanced": {}}
    fold_maps: dict[str, list[float]] = {"quick": [], "advanced": []}
    ft = FinetuneRecipe()
    ft_steps: list[int] = []
    n_phase = (len(folds) + 1) * (2 if advanced else 1)
    budget = max(30.0, config.budget_seconds - (time.perf_counter() - t0)) / (len(folds) + 1)

    def stage(k: float, frac: float = 1.0) -> None:
        run.stage(0.25 + 0.7 * k / n_phase, 0.25 + 0.7 * (k + frac) / n_phase)

    def record(kind: str, val: list[int], preds: list[list[dict[str, Any]]]) -> None:
        fold_vps = []
        for i, p in zip(val, preds, strict=True):
            vps[kind][i] = p
            fold_vps.append(_true_entry(manifest.samples[i], p))
        fold_maps[kind].append(compute_metrics("detection", tags, fold_vps)["overall"]["ap"])
        logger.info("%s fold: mAP %.3f at %.1fs", kind, fold_maps[kind][-1], time.perf_counter() - t0)

    phase = 0
    for val in folds:
        val_set = set(val)
        train_views = store.views_of([i for i in range(len(images)) if i not in val_set])
        val_images = LazyImages(manifest, recipe.image_size, val)
        stage(phase, 0.9)
        head = train_head(
            store, train_views, len(tags), in_channels, recipe, config.seed, run, "training", config.threads
        )
        stage(phase + 0.9, 0.1)
        record("quick", val, predict_images(session, head, val_images, recipe.image_size, tags, run))
        phase += 1
        if advanced:
            stage(phase, 0.9)
            tail_start, tail = trunk_tail(trunk)
            ft_steps.append(
                finetune_tail(
                    store, train_views, head, tail, recipe, ft, config.seed, run, "fine-tuning", config.threads, budget
                )
            )
            stage(phase + 0.9, 0.1)
            with torch.inference_mode():
                record("advanced", val, predict_images(session, head, val_images, recipe.image_size, tags, run, tail))
            phase += 1

    def merged(kind: str) -> list[dict[str, Any]]:
        return [_true_entry(manifest.samples[i], vps[kind][i]) for i in sorted(vps[kind])]

    delivered = "quick"
    if advanced:
        q_map = compute_metrics("detection", tags, merged("quick"))["overall"]["ap"]
        a_map = compute_metrics("detection", tags, merged("advanced"))["overall"]["ap"]
        if a_map > q_map:
            delivered = "advanced"
            notes.append(f"Advanced fine-tuning beat quick on validation (mAP {a_map:.3f} vs {q_map:.3f}).")
        else:
            notes.append(
                f"Advanced fine-tuning did not beat quick on validation (mAP {a_map:.3f} vs {q_map:.3f}); "
                "delivered the quick model."
            )
    validation_predictions = merged(delivered)
    fold_maps_delivered = fold_maps[delivered]

    # Delivered model: same recipe on every image.
    all_views = store.views_of(range(len(images)))
    stage(phase, 1.0 if delivered == "quick" else 0.5)
    final_head = train_head(
        store, all_views, len(tags), in_channels, recipe, config.seed, run, "final training", config.threads
    )
    if delivered == "advanced":
        stage(phase + 0.5, 0.5)
        tail_start, tail = trunk_tail(trunk)
        steps = int(np.mean(ft_steps))
        finetune_tail(
            store,
            all_views,
            final_head,
            tail,
            recipe,
            ft,
            config.seed,
            run,
            "final fine-tuning",
            config.threads,
            budget,
            max_steps=steps,
        )
        blocks: list[torch.nn.Module] = list(trunk.blocks)
        for j, block in enumerate(tail):
            blocks[tail_start + j].load_state_dict(block.state_dict())
        notes.append(f"Fine-tuned the stride-32 trunk blocks and the head for {steps} steps after the quick head.")
    notes.append(
        f"Delivered model retrained on all {len(images)} images with the evaluated recipe "
        f"({recipe.epochs}+ epochs, at least {recipe.min_steps} steps, over "
        f"{store.owner.numel() // max(len(images), 1)} views per image)."
    )
    run.stage(0.95, 1.0)
    run.report(0.0, "saving")
    detector = Detector(trunk, final_head).eval()
    artifact = work / "model"
    save_artifact(
        artifact,
        detector,
        tags=tags,
        backbone=config.backbone,
        image_size=recipe.image_size,
        recipe=asdict(recipe),
        extra={
            "mode": config.mode,
            "mode_delivered": delivered,
            "validation_images": [str(manifest.resolve(manifest.samples[i])) for i in sorted(vps[delivered])][:100],
        },
    )
    elapsed = time.perf_counter() - t0
    metrics = compute_metrics("detection", tags, validation_predictions)
    split_out = split.to_json(manifest.samples)
    metrics.update(
        task="detection",
        tags=tags,
        split=split_out,
        validation_predictions=validation_predictions,
        backbone=config.backbone,
        image_size=recipe.image_size,
        mode=config.mode,
        mode_delivered=delivered,
        train_seconds=elapsed,
        recipe=asdict(recipe),
        finetune=asdict(ft) | {"steps": ft_steps} if advanced else None,
        notes=notes,
    )
    if len(folds) > 1:
        metrics["kfold"] = {
            "k": len(folds),
            "map_mean": float(np.mean(fold_maps_delivered)),
            "map_std": float(np.std(fold_maps_delivered)),
            "accuracy_mean": None,
            "accuracy_std": None,
        }
    (artifact / "metrics.json").write_text(json.dumps(metrics))
    run.report(1.0, "done")
    (work / "trunk.onnx").unlink(missing_ok=True)
    logger.info("detector trained in %.1fs, mAP@0.5 %.3f", elapsed, metrics["overall"]["ap"])
    return TrainResult(
        artifact_path=str(artifact), metrics=json.loads(json.dumps(metrics)), elapsed_seconds=elapsed, notes=notes
    )
