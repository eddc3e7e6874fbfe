"""Detection head training (quick mode): a fresh FPN + FCOS head on cached trunk features.

AdamW with a linear warm-up and a cosine decay. Each batch is split into ``Recipe.shards`` shards, each on its own
thread with one torch thread (unless ``TrainConfig.threads`` says more): deterministic, and immune to the 10x
slowdown a busy second core causes torch's own thread team. On a CPU that multiplies bf16 natively the FPN's and
towers' convolutions run in bf16 (``Recipe.bf16``).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from training.ml.detection.model import ASSIGNMENTS, STRIDES, DetectionHead, fcos_loss, locations, loss_norms
from training.ml.progress import StepReport
from training.ml.runtime import ShardedSteps, native_bf16, torch_threads

if TYPE_CHECKING:
    from training.ml.detection.data import Target
    from training.ml.detection.features import FeatureStore

logger = logging.getLogger(__name__)

DEFAULT_IMAGE_SIZE = 320
P3_STRIDES: tuple[int, ...] = (8, 16, 32, 64)
# auto_recipe adds the stride-8 level (P3) when at least SMALL_SHARE of the training boxes are smaller than
# SMALL_BOX px (sqrt of the area at the input size), i.e. under twice P4's stride.
SMALL_BOX = 32.0
SMALL_SHARE = 0.25


@dataclass(frozen=True)
class Recipe:
    """Head-training hyper-parameters (quick mode); stored in the artifact and the metrics."""

    image_size: int = DEFAULT_IMAGE_SIZE
    views_per_image: int = 8
    # Fewer views per image above view_budget / views_per_image images (never fewer than 2): a view costs the
    # trunk as much as ~5 samples of head training, and the head's 250+ steps of 16 see 600 views ~5 times
    # each; more views mostly add trunk time (raccoon, 200 images, 3 views: mAP@0.5 0.959 / 0.957 on two
    # seeds against 0.963 with 8, features 3x faster).
    view_budget: int = 600
    max_views: int = 3000  # memory cap: ~0.15 MB of fp16 C4+C5 features per view at 320 px
    epochs: int = 3
    min_steps: int = 250  # small sets get more epochs (fork/scissors: 28 images -> ~18 epochs)
    # Hold-out: the delivered head continues the validated head on every image for this fraction of its
    # steps (a fresh warm-up and cosine), instead of a second training from scratch.
    final_fraction: float = 0.35
    batch_size: int = 16
    lr: float = 2e-3
    weight_decay: float = 1e-4
    channels: int = 64
    num_convs: int = 2
    strides: tuple[int, ...] = STRIDES
    assignment: str = "fcos"  # model.ASSIGNMENTS; "fcos+nearest" measured no better (README "Small objects")
    # Each batch is split into this many shards, each trained on its own thread (one torch thread each) and their
    # gradients added in shard order: ~1.7x faster on two cores, and as deterministic as one thread, since the
    # sums depend on this number, never on the machine or its load (README "Detection quick training").
    shards: int = 2
    # The FPN's and towers' convolutions train in bfloat16 (DetectionHead.forward's ``bf16``; GroupNorm, the
    # prediction convolutions and exp() stay float32, as do the weights and every prediction). auto_recipe turns
    # it on where the CPU multiplies bf16 natively, in AMX tiles (runtime.native_bf16): head steps ~1.8x faster,
    # raccoon's mAP on eight seeds as float32's (README "Detection quick training").
    bf16: bool = False

    def __post_init__(self) -> None:
        if self.assignment not in ASSIGNMENTS:
            raise ValueError(f"unknown assignment {self.assignment!r}")


def auto_recipe(targets: list[Target], image_size: int | None = None) -> Recipe:
    """The quick recipe for these training boxes: P4-P6 (STRIDES), or P3-P6 (P3_STRIDES) when small boxes are
    common (see SMALL_BOX / SMALL_SHARE). P3 finds objects of ~8-30 px that P4's stride-16 grid mostly misses, at
    ~2x the head-training time, so it is only paid for where it is needed. The head trains in bf16 where this CPU
    multiplies it natively (``Recipe.bf16``)."""
    size = image_size or DEFAULT_IMAGE_SIZE
    boxes = torch.cat([t.boxes for t in targets]) if targets else torch.zeros(0, 4)
    sides = ((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])).clamp(min=0).sqrt() * size
    small = float((sides < SMALL_BOX).float().mean()) if len(sides) else 0.0
    return Recipe(image_size=size, strides=P3_STRIDES if small >= SMALL_SHARE else STRIDES, bf16=native_bf16())


def head_schedule(num_views: int, recipe: Recipe) -> tuple[int, int]:
    """(epochs, steps per epoch) of one head training on ``num_views`` cached views: at least
    ``recipe.epochs`` epochs and at least ``recipe.min_steps`` steps."""
    steps_per_epoch = max(1, math.ceil(num_views / recipe.batch_size))
    epochs = max(recipe.epochs, math.ceil(recipe.min_steps / steps_per_epoch))
    return epochs, steps_per_epoch


def head_steps(num_views: int, recipe: Recipe) -> int:
    """Steps of one head training from scratch on ``num_views`` cached views (:func:`head_schedule`)."""
    epochs, steps_per_epoch = head_schedule(num_views, recipe)
    return epochs * steps_per_epoch


def continued_steps(validated_steps: int, recipe: Recipe) -> int:
    """Steps of the delivered head when it continues a validated head of ``validated_steps`` steps."""
    return max(1, math.ceil(validated_steps * recipe.final_fraction))


def train_head(
    store: FeatureStore,
    view_idx: Tensor,
    num_classes: int,
    in_channels: tuple[int, int, int],
    recipe: Recipe,
    seed: int,
    report: StepReport,
    threads: int | None = None,
    *,
    start: DetectionHead | None = None,
    steps: int | None = None,
) -> DetectionHead:
    """Train an FPN + FCOS head on cached features (AdamW, warm-up + cosine): a fresh one, or a copy
    of ``start`` (its weights, a fresh optimiser and schedule).

    Args:
        store: the cached views.
        view_idx: which views to train on.
        num_classes: number of tags.
        in_channels: channels of the trunk's C3, C4, C5.
        recipe: hyper-parameters (see :func:`head_steps` for the number of steps).
        seed: seeds the initialisation and the batch order.
        report: called after every step with (step, total steps, detail).
        threads: torch threads (default 1).
        start: a trained head to continue from (left unchanged).
        steps: the number of steps (default :func:`head_steps`).

    Returns:
        The trained head, in eval mode.
    """
    torch.manual_seed(seed)
    head = DetectionHead(
        in_channels, num_classes, channels=recipe.channels, num_convs=recipe.num_convs, strides=recipe.strides
    )
    if start is not None:
        head.load_state_dict(start.state_dict())
    points, _, _ = locations(recipe.image_size, recipe.strides)
    g = torch.Generator().manual_seed(seed)
    total = head_steps(len(view_idx), recipe) if steps is None else steps
    opt = torch.optim.AdamW(head.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay, fused=True)
    warm = min(100, total // 5)

    def lr_at(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    head.train()
    with torch_threads(threads or 1):
        _fit(head, opt, sched, store, view_idx, recipe, points, g, report, total, threads or 1)
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
    report: StepReport,
    total: int,
    threads: int,
) -> None:
    """The training loop: each batch in ``recipe.shards`` shards side by side (``runtime.ShardedSteps``), each
    shard's loss normalised by the whole batch's positives (:func:`loss_norms`). Head and features are channels-last
    while training (oneDNN's preferred layout: steps 10-13% faster); ``head`` is contiguous again after."""
    head.to(memory_format=torch.channels_last)
    nv = len(view_idx)
    steps_per_epoch = max(1, math.ceil(nv / recipe.batch_size))
    epochs = math.ceil(total / steps_per_epoch)
    step = 0
    with ShardedSteps(head, recipe.shards, threads) as sharded:
        for epoch in range(epochs):
            perm = view_idx[torch.randperm(nv, generator=g)]
            running = 0.0
            this_epoch = min(steps_per_epoch, total - step)
            for b in range(this_epoch):
                idx = perm[b * recipe.batch_size : (b + 1) * recipe.batch_size]
                norms = loss_norms(store.labels[idx], store.ltrb[idx])

                def loss(model: torch.nn.Module, part: Tensor, norms: tuple[float, float] = norms) -> Tensor:
                    feats = [
                        f[part].to(torch.float32, memory_format=torch.channels_last) if f.numel() else f
                        for f in store.feats
                    ]
                    outputs = model(feats, bf16=recipe.bf16)
                    return fcos_loss(outputs, store.labels[part].long(), store.ltrb[part], points, norms)

                running += sharded.backward(idx, loss)
                torch.nn.utils.clip_grad_norm_(head.parameters(), 10.0)
                opt.step()
                sched.step()
                sharded.sync()
                step += 1
                report(step, total, f"training the head, epoch {epoch + 1} of {epochs}")
            logger.debug("head epoch %d loss %.4f", epoch + 1, running / this_epoch)
    head.to(memory_format=torch.contiguous_format)
