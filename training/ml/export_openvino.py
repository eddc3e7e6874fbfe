"""OpenVINO export: the ONNX export's graph converted to OpenVINO IR (model.xml + model.bin, fp32), with a
standalone predict.py on OpenVINO's runtime and a parity report run on that runtime.

The IR is converted from the opset-12 graph (the ONNX12 flavor's): OpenVINO reads box decoding and NMS as they
are, but its antialiased Resize drifts from onnxruntime's by up to 0.05 in detection scores (measured), while the
opset-12 graph's resize-as-two-MatMuls matches to 1e-7. Weights stay fp32 (``compress_to_fp16=False``) and
inference is asked for f32, so parity holds to 1e-4 like ONNX. ``openvino`` is imported here only (the worker).
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from training.ml import artifacts
from training.ml.export import PARITY_TOLERANCE, export_onnx, load_standalone, standalone_predict

logger = logging.getLogger(__name__)

OPENVINO_OPSET = 12


def export_openvino(
    artifact_path: str | Path, out_dir: str | Path, *, validation_images: Sequence[str | Path] = (),
    max_detections: int | None = None,
) -> dict[str, Any]:
    """Write model.xml, model.bin, labels.txt, metadata.json, predict.py and parity.json to ``out_dir``
    (``max_detections``: a detector's most boxes, as in ``export_onnx``).

    Returns:
        The parity report of the IR run by OpenVINO against the Predictor (same keys as the ONNX export's).
    """
    import openvino as ov

    src = artifacts.artifact_dir(artifact_path)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tagsight-openvino-") as tmp:
        export_onnx(src, tmp, validation_images=validation_images[:1], opset=OPENVINO_OPSET,
                    max_detections=max_detections)
        ov.save_model(ov.convert_model(str(Path(tmp) / "model.onnx")), str(out / "model.xml"), compress_to_fp16=False)
        shutil.copyfile(Path(tmp) / "labels.txt", out / "labels.txt")
        meta = json.loads((Path(tmp) / "metadata.json").read_text())
    task = meta.get("task", "classification")
    meta.update({"format": "openvino", "runtime": f"openvino {ov.__version__}", "files": ["model.xml", "model.bin"],
                 "precision": "fp32"})
    (out / "metadata.json").write_text(json.dumps(meta, indent=1))
    (out / "predict.py").write_text(standalone_predict(task, "openvino"))
    images = list(validation_images) or list(artifacts.read_metadata(src).get("validation_images", ()))
    model = load_standalone(out).Model(out / "model.xml")
    if task == "detection":
        from training.ml.detection.export import parity_report
        from training.ml.predict import Predictor

        report = parity_report(Predictor.load(src), model, images,
                               max_detections=meta["postprocessing_in_graph"]["max_detections"])
        report.update(passed=report["ok"], max_abs_diff=report["max_abs_probability_diff"])
    else:
        report = classification_parity(src, lambda path: model.probabilities(str(path)), images)
    report["runtime"] = meta["runtime"]
    (out / "parity.json").write_text(json.dumps(report, indent=1))
    logger.info("exported %s to OpenVINO IR in %s (parity max |dp| %.2e)", src, out, report["max_abs_diff"])
    return report


def classification_parity(src: Path, probabilities: Any, images: Sequence[str | Path]) -> dict[str, Any]:
    """The Predictor's probabilities against ``probabilities(path)`` of an exported model on each image."""
    from training.ml.predict import Predictor

    predictor = Predictor.load(src)
    per_image: list[dict[str, Any]] = []
    for path in images:
        a = predictor.probabilities(path)
        b = np.asarray(probabilities(path), dtype=np.float64)
        per_image.append({"image": str(path), "max_abs_diff": float(np.max(np.abs(a - b))),
                          "top_tag_equal": bool(a.argmax() == b.argmax())})
    worst = max((p["max_abs_diff"] for p in per_image), default=0.0)
    return {
        "images": len(per_image),
        "max_abs_diff": worst,
        "tolerance": PARITY_TOLERANCE,
        "passed": bool(worst <= PARITY_TOLERANCE and all(p["top_tag_equal"] for p in per_image)),
        "per_image": per_image,
    }
