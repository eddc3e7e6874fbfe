"""Advanced detection: fine-tune the stride-32 trunk blocks (C4 -> C5) with the head.

The blocks run on the cached C4 maps (BatchNorm frozen), warm-started from the quick head; the step
count is capped by the budget. Each batch trains in ``Recipe.shards`` shards side by side, as the quick head does
(``runtime.ShardedSteps``). The engine keeps the result only if it beats quick on validation.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from training.ml.detection.head import Recipe
from training.ml.detection.model import DetectionHead, fcos_loss, locations, loss_norms
from training.ml.progress import StepReport
from training.ml.runtime import ShardedSteps, torch_threads

if TYPE_CHECKING:
    from training.ml.detection.features import FeatureStore


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


def planned_steps(num_views: int, recipe: Recipe, ft: FinetuneRecipe) -> int:
    """Steps of one fine-tuning before the budget cap: ``ft.epochs`` over ``num_views`` views."""
    return max(1, math.ceil(num_views / recipe.batch_size)) * ft.epochs


def finetune_tail(
    store: FeatureStore,
    view_idx: Tensor,
    head: DetectionHead,
    tail: torch.nn.Sequential,
    recipe: Recipe,
    ft: FinetuneRecipe,
    seed: int,
    report: StepReport,
    threads: int | None,
    budget_seconds: float,
    max_steps: int | None = None,
) -> int:
    """Fine-tune ``tail`` and ``head`` in place; returns the number of steps taken.

    The planned step count (``ft.epochs`` over the views) shrinks to fit ``budget_seconds`` after
    timing the first steps; ``max_steps`` pins it (the final retrain repeats the evaluated count).
    ``report`` is called after every step with (step, planned steps, detail).
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
    plan = [max_steps if max_steps is not None else planned_steps(nv, recipe, ft)]
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda step: 0.5 * (1 + math.cos(math.pi * min(step / plan[0], 1.0)))
    )
    start = time.perf_counter()
    step = 0
    both = torch.nn.ModuleList([tail, head])
    with torch_threads(threads or 1), ShardedSteps(both, recipe.shards, threads or 1) as sharded:
        while step < plan[0]:
            perm = view_idx[torch.randperm(nv, generator=g)]
            for b in range(steps_per_epoch):
                if step >= plan[0]:
                    break
                idx = perm[b * recipe.batch_size : (b + 1) * recipe.batch_size]
                norms = loss_norms(store.labels[idx], store.ltrb[idx])

                def loss(model: torch.nn.Module, part: Tensor, norms: tuple[float, float] = norms) -> Tensor:
                    part_tail, part_head = model[0], model[1]  # type: ignore[index]  # the tail and head, or copies
                    c4 = store.feats[1][part].float()
                    c3 = store.feats[0][part].float() if store.feats[0].numel() else store.feats[0]
                    feats = [c3, c4, part_tail(c4)]
                    return fcos_loss(part_head(feats), store.labels[part].long(), store.ltrb[part], points, norms)

                sharded.backward(idx, loss)
                torch.nn.utils.clip_grad_norm_(trainable, 10.0)
                opt.step()
                sched.step()
                sharded.sync()
                step += 1
                if step == 3 and max_steps is None:
                    per_step = (time.perf_counter() - start) / 3
                    plan[0] = max(3, min(plan[0], int(budget_seconds / per_step)))
                report(step, plan[0], f"fine-tuning, step {step} of {plan[0]}")
    head.eval()
    return step
