"""Detection evaluation during training: predictions on held-out images in the metrics' dict form."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

import numpy as np
import torch
from torch import Tensor

from training.ml.detection import tiles
from training.ml.detection.limits import MAX_DETECTIONS
from training.ml.detection.model import DetectionHead, decode, locations
from training.ml.manifest import Sample
from training.ml.progress import StepReport
from training.ml.runtime import map_in_order


def predict_images(
    session: Any,
    head: DetectionHead,
    images: Sequence[Tensor],
    image_size: int,
    tags: Sequence[str],
    report: StepReport,
    tail: torch.nn.Module | None = None,
    workers: int = 1,
    tiling: Mapping[str, Any] | None = None,
) -> list[list[dict[str, Any]]]:
    """Predictions (metrics' dict form) for whole images: the Predictor's preprocessing and decoding.

    Args:
        session: the trunk session (``features.trunk_session``).
        head: a trained head.
        images: uint8 (3, H, W) images.
        image_size: the model's input size.
        tags: tag names, in label order.
        report: called after each image with (images done, images, detail).
        tail: advanced mode: the fine-tuned stride-32 blocks, which recompute C5 from C4.
        workers: images predicted side by side, each on one thread (``runtime.map_in_order``).
        tiling: the whole image and its tiles, merged, as a tiling model predicts (``tiles.tiled_outputs`` with
            these settings, ``tiles.settings()``).
    """
    points, _, _ = locations(image_size, head.strides)
    what = "evaluating the fine-tuned model" if tail is not None else "evaluating"
    if tiling:
        what += " on tiles"

    def run(array: np.ndarray) -> tuple[Tensor, Tensor, Tensor]:
        feats = [torch.from_numpy(f) for f in session.run(None, {"image": array})]
        if tail is not None:
            feats[2] = tail(feats[1])
        return decode(head(feats), points, image_size)

    @torch.inference_mode()
    def predict(img: Tensor) -> list[dict[str, Any]]:
        array = img.permute(1, 2, 0).numpy()
        if tiling:
            found = tiles.tiled_outputs(lambda a: [t.numpy() for t in run(a)], array, MAX_DETECTIONS, **tiling)
            boxes, scores, labels = (torch.from_numpy(f) for f in found)
        else:
            boxes, scores, labels = run(array)
        return detections_to_dicts(boxes, scores, labels, tags)

    out: list[list[dict[str, Any]]] = []
    for i, preds in enumerate(map_in_order(predict, images, workers)):
        out.append(preds)
        report(i + 1, len(images), f"{what}, image {i + 1} of {len(images)}")
    return out


def detections_to_dicts(boxes: Tensor, scores: Tensor, labels: Tensor, tags: Sequence[str]) -> list[dict[str, Any]]:
    """xyxy normalised detections -> [{"tag", "probability", "box": {left, top, width, height}}]."""
    res = []
    for (x0, y0, x1, y1), p, c in zip(boxes.tolist(), scores.tolist(), labels.tolist(), strict=True):
        box = {"left": x0, "top": y0, "width": x1 - x0, "height": y1 - y0}
        res.append({"tag": tags[int(c)], "probability": float(p), "box": box})
    return res


def validation_entry(sample: Sample, predictions: list[dict[str, Any]]) -> dict[str, Any]:
    """One ``validation_predictions`` row (see ``training.ml.metrics``): the truth and the predictions."""
    return {
        "id": sample.id,
        "tags": sorted({b.tag for b in sample.boxes}),
        "boxes": [asdict(b) for b in sample.boxes],
        "predictions": predictions,
    }
