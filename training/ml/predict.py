"""Predictor: load an artifact once, predict images with onnxruntime (thread-safe)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from training.ml import artifacts
from training.ml.images import ImageSource, draft_factor, load_array
from training.ml.manifest import Box, Manifest
from training.ml.metrics import compute_metrics
from training.ml.runtime import prediction_session

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prediction:
    """One predicted tag; ``box`` (normalised left/top/width/height) for detection only."""

    tag: str
    probability: float
    box: Box | None = None

    def to_json(self) -> dict[str, Any]:
        return prediction_json(self)


def prediction_json(p: Any) -> dict[str, Any]:
    """{"tag", "probability", "box": {left, top, width, height} | None} of any prediction object."""
    box = getattr(p, "box", None)
    box_json = None
    if box is not None:
        box_json = {"left": box.left, "top": box.top, "width": box.width, "height": box.height}
    return {"tag": p.tag, "probability": float(p.probability), "box": box_json}


class Predictor:
    """A loaded model. Use :meth:`load`; ``predict`` may be called from many threads at once."""

    task = "classification"

    def __init__(self, path: Path, metadata: dict[str, Any], threads: int | None = None, *, int8: bool = False) -> None:
        self.path = path
        self.metadata = metadata
        self.tags: list[str] = list(metadata["tags"])
        self.image_size = int(metadata["image_size"])
        self.draft = draft_factor(metadata)
        self.multilabel = bool(metadata.get("multilabel", False))
        quantised = metadata.get("int8") or {}
        serve = quantised.get("served", quantised.get("meets_bar"))  # "served": quantize.served; before it the bar
        self.int8 = bool(int8 and serve and (path / str(quantised.get("file"))).is_file())
        self.model_file = str(quantised["file"]) if self.int8 else artifacts.MODEL_FILE
        self._session = prediction_session(path / self.model_file, threads)

    @classmethod
    def load(cls, artifact_path: str | Path, *, threads: int | None = None, int8: bool = False) -> Any:
        """Load an artifact folder (or a file inside it); detection artifacts get a DetectionPredictor.

        Args:
            threads: onnxruntime intra-op threads of the model; None or 0: a ``runtime.LoadAwareSession`` (every core
                for a run alone, one thread for overlapping runs: a server's requests).
            int8: run the artifact's int8 model (compact domains: ``quantize.add_int8_model``) where it holds one
                to serve (``metadata["int8"]["served"]``, see ``quantize.served``), else model.onnx; ``int8`` on
                the Predictor says which. Exports and evaluation compare against the fp32 model (the default).

        Raises:
            FileNotFoundError: not an artifact.
        """
        path = artifacts.artifact_dir(artifact_path)
        metadata = artifacts.read_metadata(path)
        if metadata.get("task") == "detection":
            from training.ml.detection import DetectionPredictor

            return DetectionPredictor.load(path, threads=threads)
        return cls(path, metadata, threads, int8=int8)

    def probabilities(self, image: ImageSource) -> np.ndarray:
        """Raw (K,) probabilities in ``tags`` order."""
        array = load_array(image, image_size=self.image_size, draft=self.draft)
        probs = self._session.run(["probabilities"], {"image": array})[0]
        return np.asarray(probs[0], dtype=np.float64)

    def predict(self, image: ImageSource) -> list[Prediction]:
        """Every tag with its probability, most probable first.

        Raises:
            UnreadableImage: the image cannot be decoded.
        """
        probs = self.probabilities(image)
        order = np.argsort(-probs, kind="stable")
        return [Prediction(self.tags[i], float(probs[i]), None) for i in order]

    def predict_many(self, images: Sequence[ImageSource]) -> list[list[Prediction]]:
        """:meth:`predict` for each image, in order."""
        return [self.predict(im) for im in images]


def evaluate(
    artifact_path: str | Path,
    manifest: Manifest,
    *,
    threshold: float = 0.5,
    iou_threshold: float = 0.5,
) -> dict[str, Any]:
    """Predict every image of ``manifest`` with an artifact and compute metrics on them all.

    Returns:
        ``compute_metrics`` output plus ``validation_predictions``, ``task`` and ``tags``.
    """
    predictor = Predictor.load(artifact_path)
    tags = list(predictor.tags)
    rows = []
    for s in manifest.samples:
        preds = predictor.predict(manifest.resolve(s))
        rows.append(
            {
                "id": s.id,
                "tags": list(s.tags),
                "boxes": [
                    {"tag": b.tag, "left": b.left, "top": b.top, "width": b.width, "height": b.height} for b in s.boxes
                ],
                "predictions": [prediction_json(p) for p in preds],
            }
        )
    multilabel = bool(getattr(predictor, "multilabel", False)) if predictor.task == "classification" else None
    metrics = compute_metrics(
        predictor.task, tags, rows, threshold=threshold, iou_threshold=iou_threshold, multilabel=multilabel
    )
    metrics.update({"task": predictor.task, "tags": tags, "validation_predictions": rows})
    return metrics
