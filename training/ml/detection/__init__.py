"""Object detection: FCOS on EfficientNet-Lite, training, prediction and ONNX export."""

from __future__ import annotations

from training.ml.detection.engine import train_detector
from training.ml.detection.export import export_detector_onnx
from training.ml.detection.predict import DetectionPredictor

__all__ = ["DetectionPredictor", "export_detector_onnx", "train_detector"]
