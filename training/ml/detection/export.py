"""End-to-end ONNX export of a detector: preprocessing, network, box decoding and NMS in one graph.

Graph convention (also written to metadata.json)::

    input  "image"  uint8 [H, W, 3], RGB, any size (decoded like training.ml.images.load_array)
    output "boxes"  float32 [D, 4]  x0, y0, x1, y1 normalised to the input image (0..1)
           "scores" float32 [D]     probability, sorted descending, >= 0.01, D <= max_detections (<= 300)
           "labels" int64   [D]     index into labels.txt

The parity report runs the graph and the DetectionPredictor on the same images and matches boxes.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from training.ml.detection import data as ddata
from training.ml.detection import tiles
from training.ml.detection.limits import MAX_DETECTIONS, NMS_IOU, PRE_NMS_TOPK, SCORE_FLOOR, detections_cap
from training.ml.detection.model import Detector, decode, locations
from training.ml.detection.predict import OUTPUTS
from training.ml.images import load_array

logger = logging.getLogger(__name__)

MODEL_FILE = "model.onnx"


class ImageToOutputs(nn.Module):
    """uint8 (H, W, 3) image -> resize + normalise -> Detector head outputs (batch of 1): the traced body of an
    artifact's model_core.onnx (``predict.save_artifact``)."""

    def __init__(self, detector: Detector, image_size: int) -> None:
        super().__init__()
        self.detector = detector
        self.image_size = image_size

    def forward(self, image: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        return self.detector(ddata.preprocess(image, self.image_size))  # type: ignore[no-any-return]


class Decode(nn.Module):
    """Head outputs (batch of 1) -> (boxes, scores, labels) by :func:`model.decode`, at most ``max_detections``: the
    decoding of every traced detector graph. At MAX_DETECTIONS it is an artifact's decode.onnx, which the server's
    DetectionPredictor runs after model_core.onnx (a smaller cap is the first boxes of that answer: NMS keeps boxes
    most probable first); :class:`EndToEnd` (the ONNX export) and the Core ML export end with it."""

    def __init__(self, image_size: int, strides: Sequence[int], max_detections: int = MAX_DETECTIONS) -> None:
        super().__init__()
        self.image_size = image_size
        self.max_detections = max_detections
        self.register_buffer("points", locations(image_size, tuple(strides))[0])

    def forward(self, cls_logits: Tensor, ltrb: Tensor, centerness: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        points: Tensor = self.points  # type: ignore[assignment]
        return decode((cls_logits, ltrb, centerness), points, self.image_size, max_detections=self.max_detections)


def decode_graph(image_size: int, strides: Sequence[int], num_classes: int) -> bytes:
    """The serialised ONNX graph of :class:`Decode` for a detector of ``num_classes`` tags whose head has
    ``strides``, at ``image_size``."""
    import io

    from training.ml.runtime import export_torch

    n = len(locations(image_size, tuple(strides))[0])
    example = (torch.zeros(1, n, num_classes), torch.zeros(1, n, 4), torch.zeros(1, n))
    buffer = io.BytesIO()
    export_torch(Decode(image_size, strides).eval(), example, buffer, input_names=list(OUTPUTS),
                 output_names=["boxes", "scores", "labels"],
                 dynamic_axes={"boxes": {0: "n"}, "scores": {0: "n"}, "labels": {0: "n"}})
    return buffer.getvalue()


class EndToEnd(nn.Module):
    """uint8 (H, W, 3) image -> (boxes, scores, labels), the traced body of the exported graph."""

    def __init__(self, detector: Detector, image_size: int, max_detections: int = MAX_DETECTIONS) -> None:
        super().__init__()
        self.detector = detector
        self.image_size = image_size
        self.decode = Decode(image_size, detector.head.strides, max_detections)

    def forward(self, image: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        return self.decode(*self.detector(ddata.preprocess(image, self.image_size)))  # type: ignore[no-any-return]


def write_graph(detector: Detector, path: Path, *, image_size: int, max_detections: int = MAX_DETECTIONS,
                opset: int | None = None) -> int:
    """Trace ``detector`` as the end-to-end graph (:class:`EndToEnd`) resizing images to ``image_size`` into
    ``path``; returns its opset (default EXPORT_OPSET)."""
    from training.ml.runtime import EXPORT_OPSET, export_torch

    opset = opset or EXPORT_OPSET
    model = EndToEnd(detector, image_size, detections_cap(max_detections)).eval()
    example = torch.zeros(image_size + 37, image_size + 91, 3, dtype=torch.uint8)
    export_torch(
        model,
        (example,),
        path,
        opset=opset,
        input_names=["image"],
        output_names=["boxes", "scores", "labels"],
        dynamic_axes={"image": {0: "height", 1: "width"}, "boxes": {0: "n"}, "scores": {0: "n"}, "labels": {0: "n"}},
    )
    return opset


def export_detector_onnx(
    artifact_path: str | Path, out_dir: str | Path, *, validation_images: Sequence[Any] = (), opset: int | None = None,
    max_detections: int = MAX_DETECTIONS,
) -> dict[str, Any]:
    """Write model.onnx, labels.txt, metadata.json and parity.json to ``out_dir``.

    Args:
        artifact_path: a detection artifact directory (see predict.py).
        out_dir: created if missing.
        validation_images: paths / bytes / PIL images to check the graph against the Predictor;
            default: the artifact's own validation images.
        opset: ONNX opset of the graph (default OPSET, 18; 10 and 12 build the same graph from older ops,
            see training.ml.opset).
        max_detections: the graph's most boxes (1..MAX_DETECTIONS): the project's max detections, so the export
            answers the boxes the prediction API answers.

    Returns:
        The parity report (also in parity.json).
    """
    from training.ml.detection.predict import DetectionPredictor, load_detector
    from training.ml.runtime import make_session

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    detector, meta = load_detector(artifact_path)
    size = int(meta["image_size"])
    max_detections = detections_cap(max_detections)
    opset = write_graph(detector, out / MODEL_FILE, image_size=size, max_detections=max_detections, opset=opset)
    (out / "labels.txt").write_text("".join(f"{t}\n" for t in meta["tags"]))
    export_meta = {
        "task": "detection",
        "format": "onnx",
        "tags": meta["tags"],
        "backbone": meta["backbone"],
        "image_size": size,
        "input": {
            "name": "image",
            "dtype": "uint8",
            "shape": ["height", "width", 3],
            "channels": "RGB",
            "decode": "EXIF-rotate, RGB; JPEGs larger than 2x image_size may be decoded with PIL draft",
        },
        "outputs": {
            "boxes": {"dtype": "float32", "shape": ["n", 4], "format": "xyxy normalised to the input image"},
            "scores": {"dtype": "float32", "shape": ["n"], "meaning": "probability, sorted descending"},
            "labels": {"dtype": "int64", "shape": ["n"], "meaning": "index into labels.txt"},
        },
        "preprocessing_in_graph": (
            f"Resize to {size}x{size} (linear, antialias=1, half_pixel; stretched, no letterbox), x / 127.5 - 1"
        ),
        "postprocessing_in_graph": {
            "score": "sqrt(sigmoid(class) * sigmoid(centerness))",
            "score_floor": SCORE_FLOOR,
            "pre_nms_topk": PRE_NMS_TOPK,
            "nms": f"class-aware, IoU {NMS_IOU}",
            "max_detections": max_detections,
        },
        "opset": opset,
    }
    if meta.get("tiles"):  # predict.py tiles as the server does (training.ml.detection.tiles)
        export_meta["tiles"] = meta["tiles"]
    (out / "metadata.json").write_text(json.dumps(export_meta, indent=1))
    predictor = DetectionPredictor.load(artifact_path)
    session = make_session(out / MODEL_FILE, torch.get_num_threads(), memory_arena=False)
    images = list(validation_images) or [p for p in meta.get("validation_images", ()) if Path(p).exists()]
    report = parity_report(predictor, session, images, max_detections=max_detections)
    (out / "parity.json").write_text(json.dumps(report, indent=1))
    logger.info("exported detector to %s (parity max dprob %s)", out, report["max_abs_probability_diff"])
    return report


def parity_report(predictor: Any, session: Any, images: Sequence[Any], *,
                  max_detections: int = MAX_DETECTIONS) -> dict[str, Any]:
    """Run both paths on each image, the Predictor cut to ``max_detections`` as the exported graph is (the
    export's metadata.json: postprocessing_in_graph.max_detections); match each Predictor box to the graph's
    same-label box of best IoU. Where the Predictor tiles (``predictor.tiles``), the graph runs on the same tiles
    and its boxes are merged by the same code (``tiles.tiled_outputs``), as the export's predict.py does."""
    from torchvision.ops import box_iou

    per_image = []
    max_dp = max_db = 0.0
    unmatched = 0
    t_graph = 0.0
    tiling = getattr(predictor, "tiles", None)

    def run(array: np.ndarray) -> Sequence[Any]:
        return session.run(None, {"image": array})  # type: ignore[no-any-return]

    for im in images:
        boxes, scores, labels = (torch.from_numpy(o) for o in predictor.detect(im, max_detections=max_detections))
        arr = load_array(im, image_size=predictor.image_size, draft=predictor.draft)
        t = time.perf_counter()
        found = tiles.tiled_outputs(run, arr, max_detections, **tiling) if tiling else run(arr)
        gb, gs, gl = (torch.from_numpy(np.asarray(o)) for o in found)
        t_graph += time.perf_counter() - t
        dp = db = 0.0
        miss = 0
        for i in range(len(boxes)):
            same = torch.nonzero(gl == labels[i]).flatten()
            if len(same) == 0:
                miss += 1
                continue
            ious = box_iou(boxes[i : i + 1], gb[same])[0]
            j = same[int(ious.argmax())]
            dp = max(dp, abs(float(scores[i]) - float(gs[j])))
            db = max(db, float((boxes[i] - gb[j]).abs().max()))
        miss += max(0, len(gb) - len(boxes))
        per_image.append(
            {
                "image": str(im)[:200] if isinstance(im, str | Path) else "<image>",
                "predictor_boxes": len(boxes),
                "onnx_boxes": len(gb),
                "max_abs_probability_diff": dp,
                "max_abs_box_diff": db,
                "unmatched": miss,
            }
        )
        max_dp, max_db, unmatched = max(max_dp, dp), max(max_db, db), unmatched + miss
    return {
        "images": len(per_image),
        "max_abs_probability_diff": max_dp,
        "max_abs_box_diff": max_db,
        "unmatched_boxes": unmatched,
        "max_detections": max_detections,
        "tiled": bool(tiling),
        "ok": bool(max_dp <= 1e-4 and max_db <= 1e-4 and unmatched == 0),
        "onnx_ms_per_image": 1000 * t_graph / max(len(per_image), 1),
        "per_image": per_image,
    }
