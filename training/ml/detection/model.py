"""FCOS-style detector: feature pyramid + shared head over EfficientNet-Lite stages, losses, decoding.

The network is split in two so that quick training can cache the frozen trunk's outputs:

* the *trunk* is ``backbones.create_backbone(...).forward_stages`` (C3, C4, C5 at strides 8/16/32);
* the :class:`DetectionHead` (FPN with an extra P6 level + FCOS towers) maps those to per-location
  class logits, box distances (left, top, right, bottom in pixels) and centerness logits.

Everything here works on a fixed square input of ``image_size`` pixels (a multiple of 64), so
shapes never change between iterations (free shapes cost ~30 s per new shape on this CPU).
"""

from __future__ import annotations

import contextlib
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.ops import batched_nms, generalized_box_iou_loss, sigmoid_focal_loss

from training.ml.detection.limits import MAX_DETECTIONS, NMS_IOU, PRE_NMS_TOPK, SCORE_FLOOR

STRIDES: tuple[int, ...] = (16, 32, 64)  # head levels P4-P6 (quick default); (8, 16, 32, 64) adds P3
CENTER_RADIUS = 1.5  # FCOS center sampling, in strides


def size_ranges(strides: tuple[int, ...]) -> list[tuple[float, float]]:
    """Regression range (max of l/t/r/b, input pixels) per level: FCOS's, halved for ~320 px inputs."""
    his = [4.0 * s for s in strides[:-1]] + [1e8]
    return [(0.0 if i == 0 else his[i - 1], hi) for i, hi in enumerate(his)]


class DetectionHead(nn.Module):
    """FPN and FCOS classification / regression / centerness towers shared across levels.

    With ``strides == (16, 32, 64)`` the pyramid is built from C4 and C5 (+ P6 from P5) and C3 is
    ignored: 4x fewer locations than P3-P6, which is what makes minutes-long CPU training possible;
    objects down to ~16 px at the input size are still found. ``head.auto_recipe`` adds P3 (stride 8, from
    C3) when the training boxes are small: on ``benchmarks/small_objects.py`` (8-20 px objects) it is what
    lifts mAP@0.5 (README "Small objects").

    Args:
        in_channels: channels of C3, C4, C5.
        num_classes: number of tags.
        channels: FPN and tower width.
        num_convs: conv layers per tower.
        strides: output strides of the head levels, (16, 32, 64) or (8, 16, 32, 64).
    """

    def __init__(
        self,
        in_channels: tuple[int, ...],
        num_classes: int,
        *,
        channels: int = 64,
        num_convs: int = 2,
        strides: tuple[int, ...] = STRIDES,
    ):
        super().__init__()
        if tuple(strides) not in ((16, 32, 64), (8, 16, 32, 64)):
            raise ValueError(f"unsupported strides {strides}")
        self.num_classes = num_classes
        self.strides = tuple(strides)
        self.first_stage = 0 if self.strides[0] == 8 else 1  # index into (C3, C4, C5)
        used = in_channels[self.first_stage :]
        self.lateral = nn.ModuleList(nn.Conv2d(c, channels, 1) for c in used)
        self.smooth = nn.ModuleList(nn.Conv2d(channels, channels, 3, padding=1) for _ in used)
        self.p6 = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

        def tower() -> nn.Sequential:
            layers: list[nn.Module] = []
            for _ in range(num_convs):
                layers += [
                    nn.Conv2d(channels, channels, 3, padding=1),
                    nn.GroupNorm(8, channels),
                    nn.ReLU(inplace=True),
                ]
            return nn.Sequential(*layers)

        self.cls_tower = tower()
        self.reg_tower = tower()
        self.cls_logits = nn.Conv2d(channels, num_classes, 3, padding=1)
        self.bbox_pred = nn.Conv2d(channels, 4, 3, padding=1)
        self.centerness = nn.Conv2d(channels, 1, 3, padding=1)
        self.scales = nn.Parameter(torch.ones(len(self.strides)))
        for m in self.modules():
            if isinstance(m, nn.Conv2d) and m.bias is not None:
                nn.init.normal_(m.weight, std=0.01)
                nn.init.zeros_(m.bias)
        for m in [*self.lateral, *self.smooth, self.p6]:
            nn.init.kaiming_uniform_(m.weight, a=1)
        assert self.cls_logits.bias is not None
        nn.init.constant_(self.cls_logits.bias, -math.log((1 - 0.01) / 0.01))  # FCOS prior p = 0.01

    def forward(
        self, feats: list[Tensor] | tuple[Tensor, ...], *, bf16: bool = False
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Map (C3, C4, C5) to flattened outputs over all locations of all levels.

        Args:
            feats: the trunk's (C3, C4, C5).
            bf16: run the FPN's and the towers' convolutions in bfloat16 (training on a CPU that multiplies
                bf16 natively, ``Recipe.bf16``); GroupNorm, the prediction convolutions and exp() stay float32,
                as do the weights and the outputs.

        Returns:
            cls_logits (N, L, K), ltrb distances in input pixels (N, L, 4), centerness logits (N, L).
        """
        # No autocast weight cache: it is shared by the training's shard threads, and one thread leaving autocast
        # empties it under the other, whose gradients then add up in another order (measured: not bit for bit).
        lower = torch.autocast("cpu", dtype=torch.bfloat16, cache_enabled=False) if bf16 else contextlib.nullcontext()
        with lower:
            lat = [conv(f.float()) for conv, f in zip(self.lateral, feats[self.first_stage :], strict=True)]
            for i in range(len(lat) - 1, 0, -1):
                lat[i - 1] = lat[i - 1] + F.interpolate(lat[i], size=lat[i - 1].shape[-2:], mode="nearest")
            pyramid = [conv(x) for conv, x in zip(self.smooth, lat, strict=True)]
            pyramid.append(self.p6(F.relu(pyramid[-1])))
            towers = [(_tower(self.cls_tower, p, bf16), _tower(self.reg_tower, p, bf16)) for p in pyramid]
        cls_out, reg_out, ctr_out = [], [], []
        for level, (c, r) in enumerate(towers):
            if bf16:
                c, r = c.float(), r.float()
            n = c.shape[0]
            cls_out.append(self.cls_logits(c).flatten(2).transpose(1, 2))
            dist = torch.exp((self.scales[level] * self.bbox_pred(r)).clamp(max=8.0)) * self.strides[level]
            reg_out.append(dist.flatten(2).transpose(1, 2))
            ctr_out.append(self.centerness(r).reshape(n, -1))
        return torch.cat(cls_out, 1), torch.cat(reg_out, 1), torch.cat(ctr_out, 1)


def _tower(tower: nn.Sequential, x: Tensor, bf16: bool) -> Tensor:
    """A tower's layers on ``x``; under ``bf16`` its GroupNorms run in float32 (measured: bf16 statistics cost
    raccoon's mAP, README "Detection quick training")."""
    if not bf16:
        return tower(x)  # type: ignore[no-any-return]
    for layer in tower:
        if isinstance(layer, nn.GroupNorm):
            with torch.autocast("cpu", enabled=False):
                x = layer(x.float())
        else:
            x = layer(x)
    return x


class Detector(nn.Module):
    """Trunk + head, taking a normalised (N, 3, S, S) batch; used for fine-tuning and export."""

    def __init__(self, trunk: nn.Module, head: DetectionHead) -> None:
        super().__init__()
        self.trunk = trunk
        self.head = head

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        stages: list[Tensor] = self.trunk.forward_stages(x)  # type: ignore[operator]
        return self.head(stages)  # type: ignore[no-any-return]


def locations(image_size: int, strides: tuple[int, ...] = STRIDES) -> tuple[Tensor, Tensor, Tensor]:
    """Centres (L, 2) of every output location, their level's stride (L,) and level index (L,)."""
    pts, level_strides, levels = [], [], []
    for level, s in enumerate(strides):
        n = math.ceil(image_size / s)
        c = (torch.arange(n, dtype=torch.float32) + 0.5) * s
        yy, xx = torch.meshgrid(c, c, indexing="ij")
        pts.append(torch.stack([xx.reshape(-1), yy.reshape(-1)], 1))
        level_strides.append(torch.full((n * n,), float(s)))
        levels.append(torch.full((n * n,), level, dtype=torch.long))
    return torch.cat(pts), torch.cat(level_strides), torch.cat(levels)


# Target assignment (``Recipe.assignment``): "fcos" is FCOS's (center sampling + size ranges); "fcos+nearest"
# also gives every ground-truth box that FCOS leaves without a positive location one: the location nearest its
# centre, inside the box when one is, on a level whose size range fits the box when one does. FCOS leaves a box
# out when no location centre of its level falls inside it, which is the rule rather than the exception for boxes
# smaller than the stride (a 10 px box holds a stride-16 centre ~40% of the time) and for thin boxes; such objects
# are then learnt as background. The forced positive's distances are clamped to >= 0.5 px, so that a location
# just outside a tiny box regresses (and rates the centerness of) the box grown to reach it. Measured on
# benchmarks/small_objects.py it gave no gain over "fcos" (P4-P6: 0.110 -> 0.112 mAP@0.5; P3-P6: 0.557 -> 0.550):
# once P3 exists the boxes it misses are the few under 8 px, so "fcos" stays the default.
ASSIGNMENTS = ("fcos", "fcos+nearest")
MIN_DISTANCE = 0.5  # px, "fcos+nearest": forced positives' smallest target distance


def assign_targets(
    points: Tensor,
    strides: Tensor,
    levels: Tensor,
    boxes: Tensor,
    labels: Tensor,
    assignment: str = "fcos",
) -> tuple[Tensor, Tensor]:
    """Target assignment for one image (see ASSIGNMENTS).

    Args:
        points / strides / levels: from :func:`locations`.
        boxes: (G, 4) xyxy in input pixels; labels: (G,) class indices.
        assignment: "fcos" or "fcos+nearest".

    Returns:
        labels per location (L,) with -1 for background, and ltrb targets (L, 4).
    """
    if assignment not in ASSIGNMENTS:
        raise ValueError(f"unknown assignment {assignment!r}")
    n_loc = points.shape[0]
    if boxes.numel() == 0:
        return torch.full((n_loc,), -1, dtype=torch.long), torch.zeros(n_loc, 4)
    x, y = points[:, 0:1], points[:, 1:2]
    ltrb = torch.stack([x - boxes[:, 0], y - boxes[:, 1], boxes[:, 2] - x, boxes[:, 3] - y], 2)  # (L, G, 4)
    inside = ltrb.min(2).values > 0
    # Center sampling: the location must also lie within CENTER_RADIUS strides of the box centre.
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    r = strides[:, None] * CENTER_RADIUS
    near = ((x - cx).abs() < r) & ((y - cy).abs() < r)
    max_d = ltrb.max(2).values
    level_strides = tuple(int(s) for s in torch.unique(strides).tolist())
    ranges = torch.tensor(size_ranges(level_strides))[levels]
    fits = (max_d >= ranges[:, 0:1]) & (max_d <= ranges[:, 1:2])
    ok = inside & near & fits
    if assignment == "fcos+nearest":
        ok = _with_nearest(ok, inside, fits, torch.hypot(x - cx, y - cy))
        ltrb = ltrb.clamp(min=MIN_DISTANCE)
    area = ((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))[None].expand(n_loc, -1)
    area = torch.where(ok, area, torch.full_like(area, float("inf")))
    best_area, best = area.min(1)
    target_labels = torch.where(torch.isinf(best_area), torch.full_like(best, -1), labels[best])
    target_ltrb = ltrb[torch.arange(n_loc), best]
    return target_labels, target_ltrb


def _with_nearest(ok: Tensor, inside: Tensor, fits: Tensor, distance: Tensor) -> Tensor:
    """``ok`` (L, G) plus, for each box without a positive, the location nearest its centre (``distance``, px),
    preferring locations inside the box, then those of a level whose size range ``fits`` the box."""
    missing = ~ok.any(0)
    if not bool(missing.any()):
        return ok
    cost = distance + torch.where(inside, 0.0, 1e6) + torch.where(fits, 0.0, 1e3)
    nearest = cost[:, missing].argmin(0)
    ok = ok.clone()
    ok[nearest, torch.nonzero(missing).flatten()] = True
    return ok


def centerness_target(ltrb: Tensor) -> Tensor:
    """FCOS centerness sqrt(min(l,r)/max(l,r) * min(t,b)/max(t,b))."""
    lr, tb = ltrb[:, [0, 2]], ltrb[:, [1, 3]]
    c = (lr.min(1).values / lr.max(1).values.clamp(min=1e-6)) * (tb.min(1).values / tb.max(1).values.clamp(min=1e-6))
    return c.clamp(min=0).sqrt()


def loss_norms(target_labels: Tensor, target_ltrb: Tensor) -> tuple[float, float]:
    """The normalisers of :func:`fcos_loss` for a batch's targets: (positives, sum of their centerness targets)."""
    pos = target_labels >= 0
    num_pos = max(float(pos.sum()), 1.0)
    ctr_sum = max(float(centerness_target(target_ltrb[pos]).sum()), 1e-6) if bool(pos.any()) else 1e-6
    return num_pos, ctr_sum


def fcos_loss(
    outputs: tuple[Tensor, Tensor, Tensor],
    target_labels: Tensor,
    target_ltrb: Tensor,
    points: Tensor,
    norms: tuple[float, float] | None = None,
) -> Tensor:
    """Focal + GIoU (centerness-weighted) + centerness BCE, each normalised by the positives.

    Args:
        outputs: head outputs (N, L, K), (N, L, 4), (N, L).
        target_labels: (N, L) class index or -1; target_ltrb: (N, L, 4).
        points: (L, 2) location centres.
        norms: :func:`loss_norms` of the whole batch when these targets are one shard of it (the shards' losses
            then add up to the batch's); default: this batch's own.
    """
    cls_logits, ltrb, ctr_logits = outputs
    pos = target_labels >= 0
    num_pos, ctr_sum = norms if norms is not None else loss_norms(target_labels, target_ltrb)
    onehot = torch.zeros_like(cls_logits)
    onehot[pos, target_labels[pos]] = 1.0
    loss_cls = sigmoid_focal_loss(cls_logits, onehot, alpha=0.25, gamma=2.0, reduction="sum") / num_pos
    if not bool(pos.any()):
        return loss_cls + 0.0 * ltrb.sum() + 0.0 * ctr_logits.sum()  # type: ignore[no-any-return]
    pts = points[None].expand(pos.shape[0], -1, -1)[pos]
    pred_boxes = distances_to_boxes(pts, ltrb[pos])
    true_boxes = distances_to_boxes(pts, target_ltrb[pos])
    ctr_t = centerness_target(target_ltrb[pos])
    giou = generalized_box_iou_loss(pred_boxes, true_boxes, reduction="none")
    loss_box = (giou * ctr_t).sum() / ctr_sum
    loss_ctr = F.binary_cross_entropy_with_logits(ctr_logits[pos], ctr_t, reduction="sum") / num_pos
    return loss_cls + loss_box + loss_ctr  # type: ignore[no-any-return]


def distances_to_boxes(points: Tensor, ltrb: Tensor) -> Tensor:
    """(…, 2) centres and (…, 4) distances -> (…, 4) xyxy boxes."""
    return torch.cat([points - ltrb[..., :2], points + ltrb[..., 2:]], -1)


def log_sigmoid(x: Tensor) -> Tensor:
    """log(sigmoid(x)) without saturating at 0 for large x (ONNX has no log1p; exported as is).

    Scores near 1 are ranked in log space: sigmoid() rounds every logit above ~17 to exactly 1.0
    in float32, and such ties make torch's and onnxruntime's top-k / NMS keep different boxes.
    """
    t = torch.exp(-x.abs())
    log1p = torch.where(t < 1e-4, t - 0.5 * t * t, torch.log(1.0 + t))
    return torch.clamp(x, max=0.0) - log1p


def decode(
    outputs: tuple[Tensor, Tensor, Tensor],
    points: Tensor,
    image_size: int,
    *,
    score_floor: float = SCORE_FLOOR,
    max_detections: int = MAX_DETECTIONS,
) -> tuple[Tensor, Tensor, Tensor]:
    """Turn one image's head outputs (batch of 1) into detections; traceable for ONNX export.

    Score = sqrt(sigmoid(class) * sigmoid(centerness)), ranked as its logarithm; top PRE_NMS_TOPK
    candidates above ``score_floor``; class-aware NMS at NMS_IOU; at most ``max_detections``.

    Returns:
        boxes (D, 4) xyxy normalised to [0, 1], scores (D,), labels (D,) int64, sorted by score.
    """
    cls_logits, ltrb, ctr_logits = outputs
    k = cls_logits.shape[-1]
    log_scores = 0.5 * (log_sigmoid(cls_logits[0]) + log_sigmoid(ctr_logits[0])[:, None])
    flat = log_scores.reshape(-1)
    top, top_idx = flat.topk(min(PRE_NMS_TOPK, flat.shape[0]))
    keep = top > math.log(score_floor)
    top, top_idx = top[keep], top_idx[keep]
    loc = torch.div(top_idx, k, rounding_mode="floor")
    labels = top_idx - loc * k
    boxes = distances_to_boxes(points[loc], ltrb[0][loc]).clamp(0.0, float(image_size)) / float(image_size)
    kept = batched_nms(boxes, top, labels, NMS_IOU)[:max_detections]
    return boxes[kept], torch.exp(top[kept]), labels[kept]
