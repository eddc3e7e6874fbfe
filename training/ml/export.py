"""ONNX export: the artifact's graph, labels, metadata, a standalone predict.py and a parity report.

The exported ``model.onnx`` takes a **uint8 RGB image [height, width, 3]** (any size) and does the
centre crop, antialiased resize and normalisation inside the graph; it returns ``probabilities``
[1, K] in ``labels.txt`` order. ``predict.py`` needs only onnxruntime, Pillow and numpy.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from training.ml import artifacts

logger = logging.getLogger(__name__)

PARITY_TOLERANCE = 1e-4

STANDALONE_PREDICT = '''"""Standalone predictor for this exported Tagsight model (needs onnxruntime, Pillow, numpy).

    python predict.py IMAGE [IMAGE ...]      # prints JSON: [{"image", "predictions": [{tag, probability}]}]

model.onnx input "image": uint8 RGB [height, width, 3]; pre-processing is inside the graph.
"""

import io
import json
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image, ImageOps

HERE = Path(__file__).resolve().parent
METADATA = json.loads((HERE / "metadata.json").read_text())
LABELS = (HERE / "labels.txt").read_text().splitlines()
DRAFT_FACTOR = 2


def load_array(src, image_size=METADATA["image_size"]):
    """Decode like the Tagsight service: EXIF rotation, JPEG draft, alpha on white, RGB uint8."""
    im = src if isinstance(src, Image.Image) else Image.open(io.BytesIO(src) if isinstance(src, bytes) else src)
    if not isinstance(src, Image.Image):
        if im.format == "JPEG":
            im.draft("RGB", (DRAFT_FACTOR * image_size, DRAFT_FACTOR * image_size))
        im.load()
    im = ImageOps.exif_transpose(im)
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        im = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    return np.ascontiguousarray(np.asarray(im.convert("RGB"), dtype=np.uint8))


class Model:
    def __init__(self, path=HERE / "model.onnx"):
        self.session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])

    def probabilities(self, src):
        return self.session.run(["probabilities"], {"image": load_array(src)})[0][0]

    def predict(self, src):
        p = self.probabilities(src)
        return [{"tag": LABELS[i], "probability": float(p[i])} for i in np.argsort(-p, kind="stable")]


if __name__ == "__main__":
    model = Model()
    print(json.dumps([{"image": a, "predictions": model.predict(a)} for a in sys.argv[1:]], indent=1))
'''


def _load_standalone(out_dir: Path) -> Any:
    spec = importlib.util.spec_from_file_location(f"tagsight_export_{abs(hash(out_dir))}", out_dir / "predict.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def export_onnx(
    artifact_path: str | Path, out_dir: str | Path, *, validation_images: Sequence[str | Path] = ()
) -> dict[str, Any]:
    """Export an artifact for offline use and check it against the Predictor.

    Args:
        artifact_path: a trained artifact (folder or file in it).
        out_dir: destination folder (model.onnx, labels.txt, metadata.json, predict.py, parity.json).
        validation_images: images to compare on; default the artifact's own validation images.

    Returns:
        The parity report: {"images", "max_abs_diff", "tolerance", "passed", "per_image": [...]}.
    """
    src = artifacts.artifact_dir(artifact_path)
    metadata = artifacts.read_metadata(src)
    if metadata.get("task") == "detection":
        from training.ml.detection import export_detector_onnx

        report: dict[str, Any] = export_detector_onnx(src, out_dir, validation_images=validation_images)
        return report
    from training.ml.predict import Predictor

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src / artifacts.MODEL_FILE, out / "model.onnx")
    meta = {
        **{k: v for k, v in metadata.items() if k != "validation_images"},
        "input": {"name": "image", "dtype": "uint8", "shape": ["height", "width", 3], "channels": "RGB"},
        "preprocessing": "inside the graph: centre square crop (0.875 of the shorter side), "
        "antialiased bilinear resize to image_size, (x/255 - 0.5)/0.5",
        "output": {"name": "probabilities", "shape": [1, len(metadata["tags"])], "order": "labels.txt"},
    }
    (out / "metadata.json").write_text(json.dumps(meta, indent=1))
    (out / "labels.txt").write_text("".join(f"{t}\n" for t in metadata["tags"]))
    (out / "predict.py").write_text(STANDALONE_PREDICT)
    images = list(validation_images) or list(metadata.get("validation_images", ()))
    predictor = Predictor.load(src)
    standalone = _load_standalone(out).Model(out / "model.onnx")
    per_image = []
    for path in images:
        a = predictor.probabilities(path)
        b = np.asarray(standalone.probabilities(str(path)), dtype=np.float64)
        per_image.append({"image": str(path), "max_abs_diff": float(np.max(np.abs(a - b))), "top_tag_equal": bool(a.argmax() == b.argmax())})
    worst = max((p["max_abs_diff"] for p in per_image), default=0.0)
    report = {
        "images": len(per_image),
        "max_abs_diff": worst,
        "tolerance": PARITY_TOLERANCE,
        "passed": bool(worst <= PARITY_TOLERANCE and all(p["top_tag_equal"] for p in per_image)),
        "per_image": per_image,
    }
    (out / "parity.json").write_text(json.dumps(report, indent=1))
    logger.info("exported %s to %s (parity max |dp| %.2e on %d images)", src, out, worst, len(per_image))
    return report
