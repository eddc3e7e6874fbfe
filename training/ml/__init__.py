"""Tagsight's ML engine: public API only (plain PyTorch/onnxruntime; never imports Django)."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from training.ml.config import TrainConfig
from training.ml.errors import MLError
from training.ml.manifest import Box, Manifest, Sample, TrainResult
from training.ml.metrics import compute_metrics

if TYPE_CHECKING:
    from training.ml.backbones import BACKBONES, BackboneSpec
    from training.ml.export import export_onnx
    from training.ml.predict import Prediction, Predictor, evaluate

# torch and onnxruntime take seconds and hundreds of MB to import: the web tier only needs
# compute_metrics and the dataclasses, so the heavy names load on first use (PEP 562).
_LAZY = {
    "BACKBONES": "training.ml.backbones",
    "BackboneSpec": "training.ml.backbones",
    "export_onnx": "training.ml.export",
    "Prediction": "training.ml.predict",
    "Predictor": "training.ml.predict",
    "evaluate": "training.ml.predict",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value

__all__ = [
    "BACKBONES",
    "BackboneSpec",
    "Box",
    "MLError",
    "Manifest",
    "Prediction",
    "Predictor",
    "Sample",
    "TrainConfig",
    "TrainResult",
    "compute_metrics",
    "evaluate",
    "export_onnx",
    "train",
]

logger = logging.getLogger(__name__)


def train(
    manifest: Manifest,
    config: TrainConfig,
    workdir: str | Path,
    *,
    progress: Callable[[float, str], None] | None = None,
    should_cancel: Callable[[], bool] | None = None,
) -> TrainResult:
    """Train a model on ``manifest`` and save it under ``workdir``.

    Args:
        manifest: images and labels (``manifest.task`` picks classification or detection).
        config: the run's knobs (backbone, mode, seed, budget, cache_dir, ...).
        workdir: folder for the artifact (``<workdir>/model``) and, by default, the embedding cache.
        progress: called with (fraction 0..1 over the whole run, stage text); detection's stage
            reads "<phase>: <detail>" and its fraction follows time (see ``training.ml.progress``).
        should_cancel: polled often; when it returns True training stops with ``errors.Cancelled``.

    Returns:
        TrainResult with ``artifact_path`` (a folder) and the JSON-serialisable metrics.

    Raises:
        MLError subclasses (EmptyManifest, NotEnoughTags, NotEnoughImagesPerTag, UnreadableImage,
        InvalidRegion, Cancelled) with stable ``.code`` values.
    """
    from training.ml.errors import EmptyManifest

    if not manifest.samples:
        raise EmptyManifest("The manifest has no images.")
    Path(workdir).mkdir(parents=True, exist_ok=True)
    if manifest.task == "detection":
        from training.ml.detection import train_detector

        return train_detector(manifest, config, workdir, progress=progress, should_cancel=should_cancel)
    if manifest.task != "classification":
        raise MLError(f"Unknown task {manifest.task!r}.")
    from training.ml.classification import train_classifier

    return train_classifier(manifest, config, workdir, progress=progress, should_cancel=should_cancel)
