"""Object detection: FCOS on EfficientNet-Lite, training, prediction and ONNX export.

The names below are imported when first used (PEP 562): importing ``training.ml.detection.predict``, as a web
worker does to serve a detector, must not import training and export, which need torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from training.ml.detection.engine import train_detector
    from training.ml.detection.export import export_detector_onnx
    from training.ml.detection.predict import DetectionPredictor

__all__ = ["DetectionPredictor", "export_detector_onnx", "train_detector"]
_MODULES = {"DetectionPredictor": "predict", "export_detector_onnx": "export", "train_detector": "engine"}


def __getattr__(name: str) -> Any:
    if name not in _MODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_MODULES[name]}"), name)
