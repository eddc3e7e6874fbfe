"""ONNX export: the artifact's graph, labels, metadata, a standalone predict.py and a parity report.

The exported ``model.onnx`` takes a **uint8 RGB image [height, width, 3]** (any size) and does the
centre crop, antialiased resize and normalisation inside the graph; it returns ``probabilities``
[1, K] in ``labels.txt`` order. ``predict.py`` needs only onnxruntime, Pillow and numpy.
The graph is opset 18 unless an older opset (10, 12: Azure's ONNX10 / ONNX12 flavors) is asked for.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from training.ml import artifacts
from training.ml.export_tf import TF_RUNTIMES
from training.ml.images import draft_factor
from training.ml.opset import DEFAULT_OPSET, classifier_at_opset

logger = logging.getLogger(__name__)

PARITY_TOLERANCE = 1e-4

_SCRIPT_DOC = '''"""Standalone {what} for this exported Tagsight model (needs {runtime_pip}, Pillow, numpy).

    python predict.py IMAGE [IMAGE ...]
    # prints JSON: [{{"image", "predictions": [{prints}]}}]

{model_file} input "image": uint8 RGB [height, width, 3]; {inside} inside the graph.{outputs}
"""
'''

# Imports and the service's image decoding, shared by every runtime's predict.py (CoreML's too).
_SCRIPT_LOADER = '''
import io
import json
import sys
from pathlib import Path

import numpy as np
{runtime_import}
from PIL import Image, ImageOps

HERE = Path(__file__).resolve().parent
METADATA = json.loads((HERE / "metadata.json").read_text())
LABELS = (HERE / "labels.txt").read_text().splitlines()
DRAFT_FACTOR = METADATA.get("draft_factor") or 2  # the model's: JPEGs decode no smaller than this x image_size


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


def detection_rows(boxes, scores, labels):
    """A detector's outputs (boxes x0, y0, x1, y1 as fractions) as predictions, most probable first."""
    rows = []
    for (x0, y0, x1, y1), p, c in zip(np.asarray(boxes).tolist(), np.asarray(scores).tolist(),
                                      np.asarray(labels).tolist()):
        box = {{"left": x0, "top": y0, "width": x1 - x0, "height": y1 - y0}}
        rows.append({{"tag": LABELS[int(c)], "probability": float(p), "box": box}})
    return sorted(rows, key=lambda r: -r["probability"])

'''
_SCRIPT_HEAD = _SCRIPT_DOC + _SCRIPT_LOADER

_CLASSIFIER_MODEL = '''
class Model:
    def __init__(self, path=HERE / "model.onnx"):
        self.session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])

    def probabilities(self, src):
        return self.session.run(["probabilities"], {"image": load_array(src)})[0][0]

    def predict(self, src):
        p = self.probabilities(src)
        return [{"tag": LABELS[i], "probability": float(p[i])} for i in np.argsort(-p, kind="stable")]
'''

_DETECTOR_MODEL = '''
class Model:
    def __init__(self, path=HERE / "model.onnx"):
        options = ort.SessionOptions()
        options.log_severity_level = 3  # the opset-10 graph's NMS output makes onnxruntime warn about its shape
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.outputs = [o.name for o in self.session.get_outputs()]

    def boxes(self, array):
        """The graph on one decoded image: boxes, scores, labels."""
        out = dict(zip(self.outputs, self.session.run(None, {"image": array})))
        return out["boxes"], out["scores"], out["labels"]

    def predict(self, src):
        return detection_rows(*detect(self.boxes, load_array(src)))
'''

# A detector's script also holds training.ml.detection.tiles, appended as it is (numpy only), and ``detect``, through
# which every runtime's Model predicts: the whole image, or where training found it better (metadata.json "tiles")
# the whole image and overlapping tiles, merged as the service merges them.
_TILES_SOURCE = (Path(__file__).parent / "detection" / "tiles.py").read_text()
_TILES_SCRIPT = "\n\n" + _TILES_SOURCE.replace("from __future__ import annotations\n", "") + '''

TILES = METADATA.get("tiles")
CAP = METADATA.get("max_detections") or METADATA.get("postprocessing_in_graph", {}).get("max_detections") or 300


def detect(run, array):
    """Boxes, scores and labels of a decoded image; ``run`` is the model on one uint8 image."""
    return tiled_outputs(run, array, CAP, **TILES) if TILES else run(array)
'''

# The same two models on OpenVINO's runtime (model.xml + model.bin, fp32 inference).
_OPENVINO_OPEN = '''
def _compiled(path):
    core = ov.Core()
    return core.compile_model(str(path), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
'''

_OPENVINO_CLASSIFIER = _OPENVINO_OPEN + '''

class Model:
    def __init__(self, path=HERE / "model.xml"):
        self.model = _compiled(path)
        self.output = self.model.output("probabilities")

    def probabilities(self, src):
        return self.model({"image": load_array(src)})[self.output][0]

    def predict(self, src):
        p = self.probabilities(src)
        return [{"tag": LABELS[i], "probability": float(p[i])} for i in np.argsort(-p, kind="stable")]
'''

_OPENVINO_DETECTOR = _OPENVINO_OPEN + '''

class Model:
    def __init__(self, path=HERE / "model.xml"):
        self.model = _compiled(path)
        self.outputs = ["boxes", "scores", "labels"]

    def run(self, _names, feeds):
        """onnxruntime's InferenceSession.run, for code written against it."""
        result = self.model(feeds)
        return [np.asarray(result[self.model.output(name)]) for name in self.outputs]

    def predict(self, src):
        return detection_rows(*detect(lambda array: self.run(None, {"image": array}), load_array(src)))
'''

_RUNTIMES = {
    "onnxruntime": ("onnxruntime", "import onnxruntime as ort", "model.onnx", _CLASSIFIER_MODEL, _DETECTOR_MODEL),
    "openvino": ("openvino", "import openvino as ov", "model.xml", _OPENVINO_CLASSIFIER, _OPENVINO_DETECTOR),
    **TF_RUNTIMES,  # tensorflow (saved_model/) and litert (model.tflite): training.ml.export_tf
}

_SCRIPT_MAIN = '''

if __name__ == "__main__":
    args = sys.argv[1:]
    int8 = args[:1] == ["--int8"]  # compact domains' exports also hold model_int8.onnx
    model = Model(HERE / "model_int8.onnx") if int8 else Model()
    images = args[1:] if int8 else args
    print(json.dumps([{"image": a, "predictions": model.predict(a)} for a in images], indent=1))
'''


def standalone_predict(task: str, runtime: str = "onnxruntime") -> str:
    """The source of the zip's ``predict.py`` for a classification or detection export on ``runtime``
    (onnxruntime: model.onnx; openvino: model.xml; tensorflow: saved_model/; litert: model.tflite)."""
    pip, runtime_import, model_file, classifier, detector = _RUNTIMES[runtime]
    common = {"runtime_pip": pip, "runtime_import": runtime_import, "model_file": model_file}
    if task == "detection":
        head = _SCRIPT_HEAD.format(
            what="detector", prints="{tag, probability, box: {left, top, width, height}}",
            inside="pre-processing, box decoding and NMS are",
            outputs="\nOutputs: boxes [D, 4] (x0, y0, x1, y1 as fractions of the image), scores [D], labels [D].",
            **common,
        )
        return head + _TILES_SCRIPT + detector + _SCRIPT_MAIN
    head = _SCRIPT_HEAD.format(what="predictor", prints="{tag, probability}", inside="pre-processing is", outputs="",
                               **common)
    return head + classifier + _SCRIPT_MAIN


STANDALONE_PREDICT = standalone_predict("classification")


def preprocessing_text(framings: Sequence[str]) -> str:
    """How the exported classifier frames an image, for metadata.json (see ``embeddings.preprocess_graph``)."""
    said = {"centre": "centre square crop (0.875 of the shorter side)", "whole": "the whole frame (stretched square)"}
    if len(framings) == 1:
        return said[framings[0]]
    return " and ".join(said[f] for f in framings) + " as one batch, the head reading the mean of their embeddings"


def load_standalone(out_dir: Path) -> Any:
    spec = importlib.util.spec_from_file_location(f"tagsight_export_{abs(hash(out_dir))}", out_dir / "predict.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def export_onnx(
    artifact_path: str | Path,
    out_dir: str | Path,
    *,
    validation_images: Sequence[str | Path] = (),
    opset: int | None = None,
    int8_calibration: Sequence[str | Path] = (),
    truth: Mapping[str, Sequence[Any]] | None = None,
    max_detections: int | None = None,
) -> dict[str, Any]:
    """Export an artifact for offline use and check it against the Predictor.

    Args:
        artifact_path: a trained artifact (folder or file in it).
        out_dir: destination folder (model.onnx, labels.txt, metadata.json, predict.py, parity.json).
        validation_images: images to compare on; default the artifact's own validation images.
        opset: ONNX opset of model.onnx: None or 18 (the artifact's graph), or 10 / 12 (the same graph
            from older ops, see training.ml.opset); recorded in metadata.json.
        int8_calibration: training images; with them (opset 18) the export also holds model_int8.onnx
            (training.ml.quantize) and the report an "int8" section.
        truth: validation image file stem -> its tags (classification) or boxes (detection: {"tag", "left", "top",
            "width", "height"}), for the int8 section's mAP.
        max_detections: detection: the most boxes the graph answers (the project's max detections; default
            MAX_DETECTIONS, 300); ignored for classification.

    Returns:
        The parity report: {"images", "max_abs_diff", "tolerance", "passed", "per_image": [...]}.
    """
    src = artifacts.artifact_dir(artifact_path)
    metadata = artifacts.read_metadata(src)
    if metadata.get("task") == "detection":
        from training.ml.detection import export_detector_onnx
        from training.ml.detection.limits import MAX_DETECTIONS

        report: dict[str, Any] = export_detector_onnx(src, out_dir, validation_images=validation_images, opset=opset,
                                                      max_detections=max_detections or MAX_DETECTIONS)
        (Path(out_dir) / "predict.py").write_text(standalone_predict("detection"))
        if int8_calibration and opset in (None, DEFAULT_OPSET):
            images = list(validation_images) or [p for p in metadata.get("validation_images", ()) if Path(p).exists()]
            _add_int8(Path(out_dir), "detection", int8_calibration, images, metadata, truth, report, artifact=src)
            (Path(out_dir) / "parity.json").write_text(json.dumps(report, indent=1))
        return report
    from training.ml.predict import Predictor

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if opset in (None, DEFAULT_OPSET):
        shutil.copyfile(src / artifacts.MODEL_FILE, out / "model.onnx")
    else:
        graph = onnx.load(str(src / artifacts.MODEL_FILE))
        framings = tuple(metadata.get("framings", ("centre",)))
        onnx.save(classifier_at_opset(graph, opset, image_size=metadata["image_size"], framings=framings),
                  str(out / "model.onnx"))
    meta = {
        **{k: v for k, v in metadata.items() if k not in ("validation_images", "int8")},  # int8: the artifact's own
        "input": {"name": "image", "dtype": "uint8", "shape": ["height", "width", 3], "channels": "RGB"},
        "preprocessing": "inside the graph: " + preprocessing_text(metadata.get("framings", ("centre",))) + ", "
        "antialiased bilinear resize to image_size, (x/255 - 0.5)/0.5"
        + ("" if opset in (None, DEFAULT_OPSET) else " (as two MatMuls: before opset 18 Resize has no antialias)"),
        "output": {"name": "probabilities", "shape": [1, len(metadata["tags"])], "order": "labels.txt"},
        "opset": opset or DEFAULT_OPSET,
    }
    (out / "metadata.json").write_text(json.dumps(meta, indent=1))
    (out / "labels.txt").write_text("".join(f"{t}\n" for t in metadata["tags"]))
    (out / "predict.py").write_text(STANDALONE_PREDICT)
    images = list(validation_images) or list(metadata.get("validation_images", ()))
    predictor = Predictor.load(src)
    standalone = load_standalone(out).Model(out / "model.onnx")
    per_image: list[dict[str, Any]] = []
    for path in images:
        a = predictor.probabilities(path)
        b = np.asarray(standalone.probabilities(str(path)), dtype=np.float64)
        per_image.append(
            {
                "image": str(path),
                "max_abs_diff": float(np.max(np.abs(a - b))),
                "top_tag_equal": bool(a.argmax() == b.argmax()),
            }
        )
    worst = max((p["max_abs_diff"] for p in per_image), default=0.0)
    report = {
        "images": len(per_image),
        "max_abs_diff": worst,
        "tolerance": PARITY_TOLERANCE,
        "passed": bool(worst <= PARITY_TOLERANCE and all(p["top_tag_equal"] for p in per_image)),
        "per_image": per_image,
    }
    if int8_calibration and opset in (None, DEFAULT_OPSET):
        _add_int8(out, "classification", int8_calibration, images, metadata, truth, report, artifact=src)
    (out / "parity.json").write_text(json.dumps(report, indent=1))
    logger.info("exported %s to %s (parity max |dp| %.2e on %d images)", src, out, worst, len(per_image))
    return report


def _add_int8(out: Path, task: str, calibration: Sequence[str | Path], images: Sequence[str | Path],
              metadata: Mapping[str, Any], truth: Mapping[str, Sequence[Any]] | None, report: dict[str, Any], *,
              artifact: Path) -> None:
    """model_int8.onnx next to ``out``'s model.onnx (training.ml.quantize), exported from ``artifact``, its figures
    as ``report["int8"]`` and an "int8" entry in metadata.json.

    A classifier whose artifact holds its int8 model (a compact iteration's, quantised when it was trained: the one
    the server runs where its report says so) exports that very file, so that ``predict.py --int8`` answers as the
    server does; its report is measured again on ``images`` and adds the largest probability difference from the
    server's int8 Predictor (``server_max_abs_diff``). Otherwise the model is quantised here, calibrated on
    ``calibration``."""
    from training.ml.quantize import QUANTISATION, TIMED_IMAGES, int8_classifier, int8_report

    size, draft = int(metadata["image_size"]), draft_factor(metadata)
    trained = metadata.get("int8") or {}
    if task == "detection":
        report["int8"] = _int8_detector(out, artifact, calibration, images, metadata, truth)
    elif trained.get("file") and (artifact / str(trained["file"])).is_file():
        shutil.copyfile(artifact / str(trained["file"]), out / "model_int8.onnx")
        chosen = trained.get("report") or {}
        report["int8"] = {
            **int8_report(out / "model.onnx", out / "model_int8.onnx", images, tags=metadata["tags"],
                          image_size=size, truth=truth, draft=draft, timed=TIMED_IMAGES),
            "image_size": int(trained.get("image_size", size)), "fp32_image_size": size,
            "candidates": chosen.get("candidates", []), "from_training": True, "served": trained.get("served"),
            "server_max_abs_diff": _int8_server_diff(artifact, out / "model_int8.onnx", images)}
    else:
        report["int8"] = int8_classifier(out / "model.onnx", out / "model_int8.onnx", calibration_images=calibration,
                                         images=images, tags=metadata["tags"], image_size=size, draft=draft,
                                         truth=truth)
    meta = json.loads((out / "metadata.json").read_text())
    meta["int8"] = {"file": "model_int8.onnx", "meets_bar": report["int8"]["meets_bar"],
                    "image_size": report["int8"].get("image_size", size),
                    "quantisation": QUANTISATION.format(
                        neck=", feature pyramid and towers" if task == "detection" else "",
                        rest=", prediction convs, box decoding and NMS" if task == "detection" else " and head")}
    (out / "metadata.json").write_text(json.dumps(meta, indent=1))


def _int8_server_diff(artifact: Path, model: Path, images: Sequence[str | Path]) -> float:
    """The largest probability difference on ``images`` between ``model`` run by the standalone predict.py's Model
    and the artifact's int8 model as the server's Predictor runs it (``Predictor.load(..., int8=True)``, whatever
    its report's verdict)."""
    from training.ml.predict import Predictor

    meta = artifacts.read_metadata(artifact)
    served = Predictor(artifact, {**meta, "int8": {**meta["int8"], "served": True}}, int8=True)
    standalone = load_standalone(model.parent).Model(model)
    return max((float(np.max(np.abs(served.probabilities(p) - np.asarray(standalone.probabilities(str(p)))))) for p
                in images), default=0.0)


def _int8_detector(out: Path, artifact: Path, calibration: Sequence[str | Path], images: Sequence[str | Path],
                   metadata: Mapping[str, Any], truth: Mapping[str, Sequence[Any]] | None) -> dict[str, Any]:
    """``out``/model_int8.onnx of the compact detector ``artifact`` exported to ``out``, and its int8_report against
    model.onnx: at the smallest input of ``quantize.int8_input_sizes`` whose answers on the validation images
    stay as accurate as the bar asks (``quantize.smallest_accurate``; only with their boxes, ``truth``), else at the
    detector's own size. The report adds that ``image_size``, model.onnx's (``fp32_image_size``) and every size tried
    (``candidates``)."""
    from training.ml.detection.export import write_graph
    from training.ml.detection.predict import load_detector
    from training.ml.quantize import TIMED_IMAGES, int8_report, quantize_detector, smallest_accurate

    size = int(metadata["image_size"])
    max_detections = int(json.loads((out / "metadata.json").read_text())["postprocessing_in_graph"]["max_detections"])

    def graph_at(input_size: int, path: Path) -> None:
        write_graph(load_detector(artifact)[0], path, image_size=input_size, max_detections=max_detections)

    # calibrated on images decoded as predict.py decodes them for model.onnx (by its size)
    return smallest_accurate(
        out / "model.onnx", out / "model_int8.onnx", image_size=size, smaller=bool(truth), graph_at=graph_at,
        quantise=lambda source: quantize_detector(source, out / "model_int8.onnx", calibration_images=calibration,
                                                  image_size=size),
        measure=lambda: int8_report(out / "model.onnx", out / "model_int8.onnx", images, tags=metadata["tags"],
                                    image_size=size, truth=truth, task="detection", timed=TIMED_IMAGES))
