"""TensorFlow export (Azure's ``TensorFlow`` platform): a SavedModel (``TensorFlowNormal``) or a ``.tflite`` file
(``TensorFlowLite``), with labels, metadata, a standalone predict.py and a parity report.

The model is converted from the ONNX export's opset-12 graph (the ONNX12 flavor's) by :mod:`training.ml.onnx_tf`,
so pre-processing (centre crop, the antialiased resize as two MatMuls, normalisation) and, for detectors, box
decoding and NMS stay inside the model: the SavedModel and the .tflite take a uint8 RGB image [height, width, 3] of
any size, like model.onnx, and answer its outputs (``labels`` int64 again). The .tflite is TensorFlow's
TFLiteConverter run on that SavedModel with TFLite's builtin ops only, so the plain LiteRT interpreter runs it.

Why not onnx2tf: its releases import ``tf_keras``, whose wheel requires the full ``tensorflow`` package (it would be
installed over ``tensorflow-cpu``), and onnx2tf 1.28.8 stops on our classifier's dynamic-size pre-processing.

TensorFlow and torch cannot share a process here (importing both segfaults), so everything TensorFlow does runs
in a child ``python -m training.ml.export_tf``: ``convert`` (ONNX -> SavedModel [-> .tflite], then the zip's own
predict.py on the validation images for the parity report) and ``run`` (the same, timed, for benchmarks). The
parent, in the worker, never imports tensorflow; this module imports neither torch nor tensorflow at the top.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from training.ml.onnx_tf import TF_OPSET

logger = logging.getLogger(__name__)

FLAVORS = ("TensorFlowNormal", "TensorFlowLite")  # Azure's; no flavor = TensorFlowNormal
SAVED_MODEL = "saved_model"  # folder in the zip (TensorFlowNormal)
TFLITE_FILE = "model.tflite"  # TensorFlowLite
_ROOT = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------- the zip's predict.py (TensorFlow / LiteRT)

# Each runtime opens the model one way; the classifier and detector methods follow.
_TF_OPEN = '''
class Model:
    def __init__(self, path=HERE / "saved_model", threads=None):
        if threads:  # before TensorFlow runs anything
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        self.run_model = tf.saved_model.load(str(path)).signatures["serving_default"]
'''
# LiteRT's signature runner resizes the input tensor to each image's size before invoking the model.
_LITERT_OPEN = '''
class Model:
    def __init__(self, path=HERE / "model.tflite", threads=None):
        self.run_model = Interpreter(model_path=str(path), num_threads=threads).get_signature_runner("serving_default")
'''
_PREDICT_CLASSES = '''
    def predict(self, src):
        p = self.probabilities(src)
        return [{"tag": LABELS[i], "probability": float(p[i])} for i in np.argsort(-p, kind="stable")]
'''
_PREDICT_BOXES = '''
    def predict(self, src):
        return detection_rows(*detect(lambda array: self.run(None, {"image": array}), load_array(src)))
'''

TF_CLASSIFIER = _TF_OPEN + '''
    def probabilities(self, src):
        array = src if isinstance(src, np.ndarray) else load_array(src)  # an array: decoded already
        return self.run_model(image=tf.constant(array))["probabilities"].numpy()[0]
''' + _PREDICT_CLASSES

TF_DETECTOR = _TF_OPEN + '''
    def run(self, _names, feeds):
        """onnxruntime's InferenceSession.run, for code written against it: [boxes, scores, labels]."""
        out = self.run_model(image=tf.constant(feeds["image"]))
        return [out[name].numpy() for name in ("boxes", "scores", "labels")]
''' + _PREDICT_BOXES

LITERT_CLASSIFIER = _LITERT_OPEN + '''
    def probabilities(self, src):
        array = src if isinstance(src, np.ndarray) else load_array(src)  # an array: decoded already
        return self.run_model(image=array)["probabilities"][0]
''' + _PREDICT_CLASSES

LITERT_DETECTOR = _LITERT_OPEN + '''
    def run(self, _names, feeds):
        """onnxruntime's InferenceSession.run, for code written against it: [boxes, scores, labels]."""
        out = self.run_model(image=feeds["image"])
        return [np.asarray(out[name]) for name in ("boxes", "scores", "labels")]
''' + _PREDICT_BOXES

# standalone_predict's runtimes (training.ml.export._RUNTIMES): pip name, import, model file, the two models.
TF_RUNTIMES = {
    "tensorflow": ("tensorflow", "import tensorflow as tf", "saved_model/", TF_CLASSIFIER, TF_DETECTOR),
    "litert": ("ai-edge-litert", "from ai_edge_litert.interpreter import Interpreter", "model.tflite",
               LITERT_CLASSIFIER, LITERT_DETECTOR),
}


# ---------------------------------------------------------------- the worker's side (no tensorflow here)


def export_tensorflow(
    artifact_path: str | Path,
    out_dir: str | Path,
    *,
    flavor: str = "TensorFlowNormal",
    validation_images: Sequence[str | Path] = (),
    max_detections: int | None = None,
) -> dict[str, Any]:
    """Write the TensorFlow export to ``out_dir``: ``saved_model/`` (TensorFlowNormal) or ``model.tflite``
    (TensorFlowLite), labels.txt, metadata.json, predict.py and parity.json.

    Args:
        artifact_path: a trained artifact (classification or detection).
        out_dir: destination folder (created).
        flavor: ``TensorFlowNormal`` (SavedModel, run by tensorflow) or ``TensorFlowLite`` (run by ai-edge-litert).
        validation_images: images for the parity report; default the artifact's own validation images.
        max_detections: a detector's most boxes, as in ``export_onnx``.

    Returns:
        The parity report of the exported model, run in its own runtime in a child process, against the
        Predictor (the keys of the ONNX export's report, plus ``runtime``).

    Raises:
        ValueError: an unknown flavor.
        RuntimeError: the conversion or the model's run failed (the child's error output is in the message).
    """
    from training.ml import artifacts
    from training.ml.export import export_onnx, standalone_predict

    if flavor not in FLAVORS:
        raise ValueError(f"TensorFlow flavor {flavor!r} is not one of {FLAVORS}")
    src = artifacts.artifact_dir(artifact_path)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    lite = flavor == "TensorFlowLite"
    images = [str(p) for p in validation_images] or list(artifacts.read_metadata(src).get("validation_images", ()))
    with tempfile.TemporaryDirectory(prefix="tagsight-tf-") as tmp:
        export_onnx(src, tmp, validation_images=validation_images[:1], opset=TF_OPSET,  # the graph converted
                    max_detections=max_detections)
        meta = json.loads((Path(tmp) / "metadata.json").read_text())
        task = meta.get("task", "classification")
        shutil.copyfile(Path(tmp) / "labels.txt", out / "labels.txt")
        shutil.copyfile(Path(tmp) / "metadata.json", out / "metadata.json")  # predict.py reads it
        (out / "predict.py").write_text(standalone_predict(task, "litert" if lite else "tensorflow"))
        # One child converts and then runs the zip's predict.py on the images (one TensorFlow import, not two).
        done = _child("convert", *(["--tflite"] if lite else []), str(Path(tmp) / "model.onnx"), str(out), *images)
    versions, outputs = done["versions"], done.get("outputs", [])
    meta.update(format="tflite" if lite else "saved_model", files=[TFLITE_FILE] if lite else [f"{SAVED_MODEL}/"],
                runtime=f"ai-edge-litert {versions['litert']}" if lite else f"tensorflow {versions['tensorflow']}",
                converted_by=f"training.ml.export_tf on tensorflow {versions['tensorflow']} from the opset-12 ONNX "
                "graph", precision="fp32", signature="serving_default")
    meta.pop("opset", None)
    (out / "metadata.json").write_text(json.dumps(meta, indent=1))
    report = _parity(src, task, images, outputs, (meta.get("postprocessing_in_graph") or {}).get("max_detections"))
    report["runtime"] = meta["runtime"]
    (out / "parity.json").write_text(json.dumps(report, indent=1))
    logger.info("exported %s to %s in %s (parity max |d| %.2e)", src, flavor, out, report["max_abs_diff"])
    return report


def time_export(out: str | Path, images: Sequence[str | Path], *, rounds: int = 3, threads: int | None = 1) -> float:
    """Milliseconds per image of an export's model alone (decoded images, after a warm-up), in its runtime."""
    extra = ["--threads", str(threads)] if threads else []
    return float(_child("run", "--rounds", str(rounds), *extra, str(out), *map(str, images))["ms_per_image"])


def _child(*args: str) -> dict[str, Any]:
    """Run this module's TensorFlow side in a child interpreter; its last stdout line is JSON."""
    path = os.pathsep.join(p for p in (str(_ROOT), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": path}
    done = subprocess.run([sys.executable, "-m", "training.ml.export_tf", *args], capture_output=True, text=True,
                          cwd=_ROOT, env=env, timeout=1800, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"TensorFlow {args[0]} failed (exit {done.returncode}): {done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _parity(src: Path, task: str, images: Sequence[str], outputs: list[Any],
            max_detections: int | None) -> dict[str, Any]:
    """The Predictor against the exported model's outputs (computed by the child), image by image (a detector's
    cut to the graph's ``max_detections``)."""
    by_image = dict(zip(images, outputs, strict=True))
    if task == "detection":
        from training.ml.detection.export import parity_report
        from training.ml.detection.limits import MAX_DETECTIONS
        from training.ml.predict import Predictor

        report = parity_report(Predictor.load(src), _Replay(outputs), images,
                               max_detections=max_detections or MAX_DETECTIONS)
        report.pop("onnx_ms_per_image", None)  # timed in the child, not here
        report.update(passed=report["ok"], max_abs_diff=report["max_abs_probability_diff"])
        return report
    from training.ml.export_openvino import classification_parity

    return classification_parity(src, lambda path: by_image[str(path)], images)


class _Replay:
    """An onnxruntime-like session answering, in order, what the exported model answered for each image (each
    image's runs: one, or the whole image's and its tiles', in the order ``tiles.tiled_outputs`` makes them)."""

    def __init__(self, outputs: list[Any]) -> None:
        self.outputs = iter([run for runs in outputs for run in runs])

    def run(self, _names: Any, _feeds: Any) -> list[np.ndarray]:
        boxes, scores, labels = next(self.outputs)
        return [np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(scores, np.float32),
                np.asarray(labels, np.int64)]


def convert(onnx_path: Path, out: Path, *, tflite: bool) -> dict[str, str]:
    """ONNX graph -> ``out/saved_model`` (signature ``serving_default``: ``image`` uint8 [H, W, 3] -> the graph's
    outputs) or, with ``tflite``, ``out/model.tflite`` converted from it (TFLite builtin ops only, fp32)."""
    import onnx
    import tensorflow as tf

    from training.ml.onnx_tf import onnx_to_tf

    model = onnx.load(str(onnx_path))
    fn, names = onnx_to_tf(model, tf)

    class Exported(tf.Module):  # type: ignore[misc]
        @tf.function(  # type: ignore[untyped-decorator]
            input_signature=[tf.TensorSpec([None, None, 3], tf.uint8, name="image")], autograph=False)
        def serve(self, image: Any) -> dict[str, Any]:
            result = fn(image)
            if "labels" in result:
                result["labels"] = tf.cast(result["labels"], tf.int64)  # the ONNX graph's contract
            return {name: tf.identity(result[name], name=name) for name in names}

    module = Exported()
    saved = out / SAVED_MODEL if not tflite else Path(tempfile.mkdtemp(prefix="tagsight-savedmodel-"))
    try:
        tf.saved_model.save(module, str(saved), signatures={"serving_default": module.serve})
        if tflite:
            converter = tf.lite.TFLiteConverter.from_saved_model(str(saved))
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
            (out / TFLITE_FILE).write_bytes(converter.convert())
    finally:
        if tflite:
            shutil.rmtree(saved, ignore_errors=True)
    from ai_edge_litert import __version__ as litert_version

    return {"tensorflow": tf.__version__, "litert": litert_version}


def run_export(out: Path, images: Sequence[str], *, rounds: int = 0, threads: int | None = None) -> dict[str, Any]:
    """The zip's own predict.py Model on each image: {"outputs": probabilities, or [boxes, scores, labels] lists}
    and, with ``rounds``, {"ms_per_image"}: the model alone on decoded images (after one warm-up run)."""
    import importlib.util
    import time

    spec = importlib.util.spec_from_file_location("tagsight_tf_export", out / "predict.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.Model(threads=threads)
    arrays = [module.load_array(p) for p in images]
    classifier = hasattr(model, "probabilities")

    def infer(array: np.ndarray) -> Any:
        """A classifier's probabilities; a detector's runs of the model, in order, as predict.py's ``detect`` made
        them (one, or the whole image's and its tiles')."""
        if classifier:
            return model.probabilities(array)
        runs: list[Any] = []

        def run(part: np.ndarray) -> Any:
            runs.append(model.run(None, {"image": part}))
            return runs[-1]

        module.detect(run, array)
        return runs

    outputs = [np.asarray(infer(a), np.float64).tolist() if classifier
               else [[np.asarray(o).tolist() for o in run] for run in infer(a)] for a in arrays]
    result: dict[str, Any] = {"outputs": outputs}
    if rounds and arrays:
        start = time.perf_counter()
        for _ in range(rounds):
            for array in arrays:
                infer(array)
        result["ms_per_image"] = 1000 * (time.perf_counter() - start) / (rounds * len(arrays))
    return result


def main(argv: Sequence[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m training.ml.export_tf")
    sub = parser.add_subparsers(dest="command", required=True)
    conv = sub.add_parser("convert", help="ONNX model -> OUT/saved_model (or OUT/model.tflite with --tflite)")
    conv.add_argument("onnx")
    conv.add_argument("out")
    conv.add_argument("--tflite", action="store_true")
    conv.add_argument("images", nargs="*", help="then run OUT/predict.py's model on these (see run)")
    run = sub.add_parser("run", help="run OUT/predict.py's model on images; prints its raw outputs as JSON")
    run.add_argument("out")
    run.add_argument("images", nargs="*")
    run.add_argument("--rounds", type=int, default=0, help="also time this many passes over the images")
    run.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    if "torch" in sys.modules:  # tensorflow and torch in one process crash here: this side never loads torch
        raise SystemExit("training.ml.export_tf's TensorFlow side must run without torch loaded")
    if args.command == "convert":
        result: dict[str, Any] = {"versions": convert(Path(args.onnx), Path(args.out), tflite=args.tflite)}
        if args.images:
            result.update(run_export(Path(args.out), args.images))
    else:
        result = run_export(Path(args.out), args.images, rounds=args.rounds, threads=args.threads)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
