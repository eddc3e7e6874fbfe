"""Detection artifacts (save/load) and the DetectionPredictor (onnxruntime only).

An artifact is a directory::

    metadata.json   {"task": "detection", "format": "tagsight-detector", "tags", "backbone",
                     "image_size", "recipe", "model": "model.pt", "onnx": "model_core.onnx",
                     "decode": "decode.onnx", ...}
    model.pt        state_dict of the whole Detector (trunk + head)
    model_core.onnx uint8 (H, W, 3) image -> resize, normalise, Detector -> (cls logits, ltrb, centerness)
    decode.onnx     (cls logits, ltrb, centerness) -> boxes, scores, labels: decoding and NMS

The Predictor runs both graphs in onnxruntime: the preprocessing is the same kernel as in the export, and the
decoding is traced from the same torch function as the exported end-to-end graph (``export.Decode``). It imports
no torch, so a web worker that serves a detector does not load it. An artifact written before decode.onnx existed
has the graph traced when it is loaded (that one load imports torch).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from training.ml.detection import tiles
from training.ml.detection.limits import MAX_DETECTIONS, detections_cap
from training.ml.errors import ModelUnavailable
from training.ml.images import ImageSource, draft_factor, load_array
from training.ml.manifest import Box
from training.ml.predict import Prediction
from training.ml.runtime import make_session, prediction_session

if TYPE_CHECKING:
    from training.ml.detection.model import Detector

logger = logging.getLogger(__name__)

FORMAT = "tagsight-detector"
METADATA = "metadata.json"
WEIGHTS = "model.pt"
CORE_ONNX = "model_core.onnx"
DECODE_ONNX = "decode.onnx"
OUTPUTS = ("cls_logits", "ltrb", "centerness")  # model_core.onnx's outputs, decode.onnx's inputs


def save_artifact(
    path: Path,
    detector: Detector,
    *,
    tags: Sequence[str],
    backbone: str,
    image_size: int,
    recipe: dict[str, Any],
    extra: dict[str, Any] | None = None,
) -> None:
    """Write ``path/`` (metadata.json, model.pt, model_core.onnx, decode.onnx, labels.txt); ``extra`` metadata
    keys (e.g. ``validation_images``, ``mode``) are stored as well."""
    import torch

    from training.ml.detection.export import ImageToOutputs, decode_graph
    from training.ml.runtime import export_torch

    path.mkdir(parents=True, exist_ok=True)
    detector = detector.eval()
    torch.save(detector.state_dict(), path / WEIGHTS)
    example = torch.zeros(image_size + 17, image_size + 41, 3, dtype=torch.uint8)
    export_torch(
        ImageToOutputs(detector, image_size).eval(),
        (example,),
        path / CORE_ONNX,
        input_names=["image"],
        output_names=list(OUTPUTS),
        dynamic_axes={"image": {0: "height", 1: "width"}},
    )
    (path / DECODE_ONNX).write_bytes(decode_graph(image_size, recipe["strides"], len(tags)))
    meta = {
        "task": "detection",
        "format": FORMAT,
        "version": 1,
        "tags": list(tags),
        "backbone": backbone,
        "image_size": image_size,
        "normalization": {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]},
        "head": {"channels": recipe["channels"], "num_convs": recipe["num_convs"], "strides": list(recipe["strides"])},
        "recipe": recipe,
        "model": WEIGHTS,
        "onnx": CORE_ONNX,
        "decode": DECODE_ONNX,
        "input": {"name": "image", "dtype": "uint8", "shape": ["height", "width", 3], "channels": "RGB"},
        **(extra or {}),
    }
    (path / METADATA).write_text(json.dumps(meta, indent=1))
    (path / "labels.txt").write_text("".join(f"{t}\n" for t in tags))


def read_metadata(artifact_path: str | Path) -> dict[str, Any]:
    """The artifact's metadata (``artifact_path`` is the directory or its metadata.json)."""
    p = Path(artifact_path)
    if p.is_file():
        p = p.parent
    return dict(json.loads((p / METADATA).read_text()))


def load_detector(artifact_path: str | Path) -> tuple[Detector, dict[str, Any]]:
    """Rebuild the torch Detector from an artifact (used by export)."""
    import torch

    from training.ml.backbones import create_backbone, get_spec
    from training.ml.detection.model import DetectionHead, Detector

    root = Path(artifact_path)
    root = root.parent if root.is_file() else root
    meta = read_metadata(root)
    trunk = create_backbone(meta["backbone"], image_size=meta["image_size"], pretrained=False)
    head = DetectionHead(
        tuple(get_spec(meta["backbone"]).stage_channels),
        len(meta["tags"]),
        channels=meta["head"]["channels"],
        num_convs=meta["head"]["num_convs"],
        strides=tuple(meta["head"]["strides"]),
    )
    detector = Detector(trunk, head)
    detector.load_state_dict(torch.load(root / meta["model"], map_location="cpu", weights_only=True))
    return detector.eval(), meta


class DetectionPredictor:
    """Loads a detection artifact once; thread-safe ``predict`` / ``predict_many``.

    Predictions are ``Prediction(tag, probability, box)`` with ``box`` a normalised
    left/top/width/height :class:`Box`, after class-aware NMS, sorted by probability, at most
    ``max_detections`` (<= MAX_DETECTIONS, 300), probability >= SCORE_FLOOR (0.01).
    """

    task = "detection"

    def __init__(self, root: Path, meta: dict[str, Any], session: Any, decoder: Any) -> None:
        self.root = root
        self.meta = meta
        self.tags: list[str] = list(meta["tags"])
        self.image_size: int = int(meta["image_size"])
        self.draft = draft_factor(meta)  # detectors: images.DRAFT_FACTOR (their training views zoom in)
        self._session = session  # model_core.onnx
        self._decoder = decoder  # decode.onnx
        # Training found tiles better on the validation images (small objects): the whole image and overlapping
        # tiles, merged (training.ml.detection.tiles), as every export of this model predicts too.
        self.tiles: dict[str, Any] | None = meta.get("tiles") or None

    @classmethod
    def load(cls, artifact_path: str | Path, *, threads: int | None = None) -> DetectionPredictor:
        """Open an artifact directory (or its metadata.json).

        Args:
            threads: onnxruntime intra-op threads of the model; None or 0: a ``runtime.LoadAwareSession`` (every core
                for a run alone, one thread for overlapping runs).
        """
        root = Path(artifact_path)
        root = root.parent if root.is_file() else root
        meta = read_metadata(root)
        if meta.get("task") != "detection":
            raise ValueError(f"{root} is not a detection artifact")
        session = prediction_session(root / meta["onnx"], threads, memory_arena=False)
        if meta.get("decode"):
            decoder = make_session(root / meta["decode"], 1)
        else:  # an artifact from before decode.onnx: trace its graph now (torch, this once)
            try:
                from training.ml.detection.export import decode_graph
            except ImportError as exc:  # a web tier installed without the worker's packages
                raise ModelUnavailable(
                    "This detector was trained by an older Tagsight, whose model needs torch to predict, and torch "
                    "is not installed here. Train a new iteration, or install the worker's packages "
                    "(pip install 'tagsight[worker]') where the portal runs.") from exc
            decoder = make_session(decode_graph(int(meta["image_size"]), meta["head"]["strides"], len(meta["tags"])),
                                   1)
        return cls(root, meta, session, decoder)

    def detect(
        self, image: ImageSource, *, max_detections: int = MAX_DETECTIONS
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Raw detections: boxes (D, 4) normalised xyxy, scores (D,), labels (D,); D <= ``max_detections``. A
        tiling model's come from the whole image and its tiles, each cut to ``max_detections`` as the exported graph
        cuts them (``tiles.tiled_outputs``)."""
        arr = load_array(image, image_size=self.image_size, draft=self.draft)
        cap = detections_cap(max_detections)
        if self.tiles:
            return tiles.tiled_outputs(lambda a: self._decoded(a, cap), arr, cap, **self.tiles)
        return self._decoded(arr, cap)

    def _decoded(self, arr: np.ndarray, cap: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The model on one decoded image: its head's outputs decoded, NMS'd and cut to ``cap`` boxes."""
        outputs = self._session.run(None, {"image": arr})
        boxes, scores, labels = self._decoder.run(None, dict(zip(OUTPUTS, outputs, strict=True)))
        return boxes[:cap], scores[:cap], labels[:cap]

    def predict(self, image: ImageSource, *, max_detections: int = MAX_DETECTIONS) -> list[Prediction]:
        """Detections of one image (PIL image, bytes or path) as Prediction objects, the ``max_detections``
        most probable (the same boxes as the first ``max_detections`` of a full prediction)."""
        boxes, scores, labels = self.detect(image, max_detections=max_detections)
        out = []
        for (x0, y0, x1, y1), p, c in zip(boxes.tolist(), scores.tolist(), labels.tolist(), strict=True):
            tag = self.tags[int(c)]
            out.append(Prediction(tag=tag, probability=float(p), box=Box(tag, x0, y0, x1 - x0, y1 - y0)))
        return out

    def predict_many(self, images: Sequence[ImageSource]) -> list[list[Prediction]]:
        """``predict`` for each image, in order."""
        return [self.predict(im) for im in images]
