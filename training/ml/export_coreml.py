"""CoreML export: the artifact's network as a Core ML program (model.mlpackage, fp32) converted by coremltools
from torch, with labels, metadata, a predict.py for macOS and a parity report computed when the export is built.

The model takes an RGB **image of image_size x image_size** (``ct.ImageType``: the scale/bias inside the model map
0..255 to the [-1, 1] the network was trained on), so iOS Vision (``VNCoreMLModel``) and Create ML apps use it as
they use Azure's CoreML export. Classifiers are Core ML classifiers (``classLabel``, ``classLabel_probs`` over
labels.txt); detectors return ``boxes`` [D, 4] (x0, y0, x1, y1 as fractions of the image), ``scores`` [D] and
``labels`` [D], with box decoding and class-aware NMS inside the program (coremltools maps torchvision's nms to
Core ML's). The centre crop (classification) and the antialiased resize cannot be expressed in Core ML's image
input, so predict.py does them exactly as the service does (Vision apps: centre-crop and scale the image).

Sources: a detector artifact holds torch weights (``load_detector``); a classifier artifact holds only its ONNX
graph, so :func:`classifier_module` rebuilds the EfficientNet-Lite in torch (BatchNorm folded, as in the graph)
and loads the graph's weights into it; the parity report proves the rebuilt module computes the served model.

Core ML runs only on Apple platforms, so the report cannot run model.mlpackage. What it checks instead: the saved
package's spec reloaded with coremltools (input, outputs, labels, shapes); the exact torch program that was
converted against the Predictor on the service's own pixels (the verdict, to 1e-4 like every export); and that
program fed what predict.py gives Core ML, a uint8 image (``image_input``: measured, not judged; on the test photos
8-bit input moved a classifier's probabilities by 2e-5 and a 3-epoch detector's low-score boxes by up to 0.04).

coremltools is imported here only (the worker). It imports TensorFlow when it finds it, and TensorFlow next to
torch crashes this process, so :func:`coremltools` hides TensorFlow while coremltools loads.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from training.ml import artifacts
from training.ml.errors import MLError
from training.ml.export import _SCRIPT_LOADER, _TILES_SCRIPT, load_standalone

logger = logging.getLogger(__name__)

MODEL_FILE = "model.mlpackage"
DEPLOYMENT_TARGET = "iOS15"  # the oldest Core ML (iOS 15 / macOS 12) that runs an ML program
NOT_RUN = ("Core ML runs only on Apple platforms (macOS / iOS); this export was built on Linux, where model.mlpackage "
           "cannot be run. Checked instead: its spec reloaded with coremltools (input, outputs, labels, shapes: "
           "'spec') and the torch program that was converted, against the Tagsight service (on the service's pixels; "
           "'image_input': on the uint8 image predict.py gives Core ML). Run predict.py on a Mac to run the model.")


class CoreMLExportError(MLError):
    """The artifact cannot be converted, or the converted spec is not what the export promises."""

    code = "BadRequestExportValidationFailed"


@contextlib.contextmanager
def _tensorflow_hidden() -> Iterator[None]:
    """``import tensorflow`` fails inside (unless TensorFlow is already loaded): coremltools then skips it."""
    hide = "tensorflow" not in sys.modules
    if hide:
        sys.modules["tensorflow"] = None  # type: ignore[assignment]  # None makes the import raise ImportError
    try:
        yield
    finally:
        if hide:
            sys.modules.pop("tensorflow", None)


def coremltools() -> Any:
    """coremltools, loaded without its optional TensorFlow frontend (see the module docstring)."""
    with _tensorflow_hidden():
        import coremltools as ct
    _fix_int_cast()
    return ct


def _fix_int_cast() -> None:
    """coremltools 9.0 turns a folded 1-element constant into a Python int with ``int(array)``, which NumPy >= 2.4
    refuses; the detector's traced ``min(PRE_NMS_TOPK, flat.shape[0])`` is one. Cast the element instead, through
    coremltools' own op registry (``override=True``: its documented way to replace a torch op's conversion)."""
    from coremltools.converters.mil import Builder as mb
    from coremltools.converters.mil.frontend.torch.ops import _get_inputs
    from coremltools.converters.mil.frontend.torch.torch_op_registry import _TORCH_OPS_REGISTRY, register_torch_op

    original = _TORCH_OPS_REGISTRY.get_func("int")
    if getattr(original, "tagsight_fix", False):
        return

    def _int(context: Any, node: Any) -> None:
        x = _get_inputs(context, node, expected=1)[0]
        if x.can_be_folded_to_const() and np.ndim(x.val) > 0 and np.size(x.val) == 1:
            context.add(mb.const(val=int(np.asarray(x.val).item()), name=node.name), node.name)
        else:
            original(context, node)

    _int.tagsight_fix = True  # type: ignore[attr-defined]
    register_torch_op(_int, torch_alias=["int"], override=True)


class _Classifier(nn.Module):
    """Normalised pixels (1, 3, S, S) -> probabilities (1, K): trunk, linear head, softmax or sigmoid."""

    def __init__(self, trunk: nn.Module, weight: np.ndarray, bias: np.ndarray, *, multilabel: bool) -> None:
        super().__init__()
        self.trunk = trunk
        self.head = nn.Linear(weight.shape[0], weight.shape[1])
        self.head.weight.data = torch.from_numpy(np.ascontiguousarray(weight.T, dtype=np.float32))
        self.head.bias.data = torch.from_numpy(np.array(bias, dtype=np.float32))
        self.multilabel = multilabel

    def forward(self, x: Tensor) -> Tensor:
        logits = self.head(self.trunk.forward_pooled(x))  # type: ignore[operator]
        return torch.sigmoid(logits) if self.multilabel else torch.softmax(logits, dim=1)


def classifier_module(artifact_path: str | Path) -> nn.Module:
    """The classifier artifact's network in torch, rebuilt from its ONNX graph.

    The graph is an EfficientNet-Lite trunk exported by torch with BatchNorm folded into the convolutions, then
    MatMul + Add + Softmax/Sigmoid: the same backbone is built, its BatchNorms replaced by the folded conv biases,
    and the graph's convolution weights loaded in order (each checked for shape, stride and groups).

    Raises:
        CoreMLExportError: the graph is not the trunk + head Tagsight trains.
    """
    import onnx
    from onnx import numpy_helper

    from training.ml.backbones import create_backbone

    src = artifacts.artifact_dir(artifact_path)
    meta = artifacts.read_metadata(src)
    graph = onnx.load(str(src / artifacts.MODEL_FILE)).graph
    values = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    trunk = create_backbone(meta["backbone"], image_size=int(meta["image_size"]), pretrained=False,
                            pooling=meta.get("pooling", "avg"))
    for seq in trunk.modules():  # fold: the graph's convolutions carry the BatchNorms as biases
        if isinstance(seq, nn.Sequential):
            for i, layer in enumerate(seq):
                if isinstance(layer, nn.BatchNorm2d):
                    seq[i] = nn.Identity()
    convs = [m for m in trunk.modules() if isinstance(m, nn.Conv2d)]
    nodes = [n for n in graph.node if n.op_type == "Conv"]
    if len(nodes) != len(convs):
        raise CoreMLExportError(f"the model graph has {len(nodes)} convolutions; {meta['backbone']} has {len(convs)}")
    for node, conv in zip(nodes, convs, strict=True):
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        weight, bias = values[node.input[1]], values[node.input[2]]
        if (weight.shape != tuple(conv.weight.shape) or list(attrs.get("strides", [1, 1])) != list(conv.stride)
                or attrs.get("group", 1) != conv.groups):
            raise CoreMLExportError(f"convolution {node.name or node.output[0]} does not match {meta['backbone']}")
        conv.weight.data = torch.from_numpy(weight.copy())
        conv.bias = nn.Parameter(torch.from_numpy(bias.copy()))
    if "head_weight" not in values or graph.node[-1].op_type not in ("Softmax", "Sigmoid"):
        raise CoreMLExportError("the model graph does not end in Tagsight's linear head")
    multilabel = graph.node[-1].op_type == "Sigmoid"
    return _Classifier(trunk, values["head_weight"], values["head_bias"], multilabel=multilabel).eval()


class _Detector(nn.Module):
    """Normalised pixels (1, 3, S, S) -> boxes, scores, labels: the network, box decoding and NMS."""

    def __init__(self, detector: nn.Module, image_size: int, strides: Sequence[int], max_detections: int) -> None:
        from training.ml.detection.export import Decode

        super().__init__()
        self.detector = detector
        self.decode = Decode(image_size, strides, max_detections)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        return self.decode(*self.detector(x))  # type: ignore[no-any-return]


def export_coreml(
    artifact_path: str | Path, out_dir: str | Path, *, validation_images: Sequence[str | Path] = (),
    max_detections: int | None = None,
) -> dict[str, Any]:
    """Write model.mlpackage, labels.txt, metadata.json, predict.py and parity.json to ``out_dir``.

    Args:
        artifact_path: a trained classification or detection artifact (folder or a file in it).
        out_dir: destination folder (created).
        validation_images: images the parity report runs on; default the artifact's own validation images.
        max_detections: a detector's most boxes, as in ``export_onnx`` (default MAX_DETECTIONS, 300).

    Returns:
        The parity report (see the module docstring; ``coreml_run`` is False: Core ML cannot run here).

    Raises:
        CoreMLExportError: conversion failed or the saved spec is not the promised one.
    """
    ct = coremltools()
    src = artifacts.artifact_dir(artifact_path)
    meta = artifacts.read_metadata(src)
    task = meta.get("task", "classification")
    size, tags = int(meta["image_size"]), list(meta["tags"])
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cut = None
    if task == "detection":
        from training.ml.detection.limits import detections_cap
        from training.ml.detection.predict import load_detector

        detector, _ = load_detector(src)
        cut = detections_cap(max_detections)
        module: nn.Module = _Detector(detector, size, meta["head"]["strides"], cut).eval()
    else:
        module = classifier_module(src)
    with torch.inference_mode():
        traced = torch.jit.trace(  # type: ignore[no-untyped-call]
            module, torch.zeros(1, 3, size, size), check_trace=False)
    image = ct.ImageType(name="image", shape=(1, 3, size, size), scale=1 / 127.5, bias=[-1.0, -1.0, -1.0],
                         color_layout=ct.colorlayout.RGB)
    options: dict[str, Any] = (
        {"outputs": [ct.TensorType(name=n) for n in ("boxes", "scores", "labels")]} if task == "detection"
        else {"classifier_config": ct.ClassifierConfig(tags)}
    )
    mlmodel = ct.convert(traced, inputs=[image], convert_to="mlprogram", compute_precision=ct.precision.FLOAT32,
                         minimum_deployment_target=getattr(ct.target, DEPLOYMENT_TARGET), **options)
    mlmodel.short_description = f"Tagsight {task} model ({meta.get('backbone')}, {size} px): {', '.join(tags)}"
    mlmodel.user_defined_metadata["labels"] = json.dumps(tags)
    mlmodel.save(str(out / MODEL_FILE))
    spec = validate_spec(out / MODEL_FILE, task=task, tags=tags, image_size=size)
    (out / "labels.txt").write_text("".join(f"{t}\n" for t in tags))
    export_meta = {
        **{k: v for k, v in meta.items() if k in ("task", "tags", "backbone", "image_size", "multilabel", "mode",
                                                         "draft_factor", "tiles")},
        "format": "coreml",
        "files": [MODEL_FILE],
        "model_type": "mlProgram",
        "precision": "fp32",
        "minimum_deployment_target": f"{DEPLOYMENT_TARGET} / macOS12",
        "converter": f"coremltools {ct.__version__} from torch {torch.__version__.split('+')[0]} (TorchScript trace)",
        "input": {"name": "image", "type": "image", "channels": "RGB", "shape": [size, size],
                  "inside_model": "x / 127.5 - 1 (ImageType scale and bias)"},
        "preprocessing_outside_model": (
            "predict.py: decode like the service, then "
            + ("resize the whole image to image_size x image_size (stretched)" if task == "detection" else
               "centre square crop (0.875 of the shorter side), resize to image_size x image_size")
            + " with the service's antialiased linear resize, rounded to uint8"
        ),
        "spec": spec,
        **({"max_detections": cut} if cut else {}),
    }
    (out / "metadata.json").write_text(json.dumps(export_meta, indent=1))
    (out / "predict.py").write_text(coreml_predict(task))
    images = list(validation_images) or list(meta.get("validation_images", ()))
    report = _parity(src, traced, load_standalone(out), task, images, cut)  # the very program converted
    report.update(runtime="none (Core ML does not run on Linux)", coreml_run=False, note=NOT_RUN, spec=spec)
    (out / "parity.json").write_text(json.dumps(report, indent=1))
    logger.info("exported %s to Core ML in %s (parity max |dp| %.2e)", src, out, report["max_abs_diff"])
    return report


def validate_spec(path: Path, *, task: str, tags: Sequence[str], image_size: int) -> dict[str, Any]:
    """Reload the saved package's spec with coremltools and check it is the model the export promises.

    Returns:
        What was checked: {"type", "input", "outputs", "labels"}.

    Raises:
        CoreMLExportError: a mismatch (named).
    """
    ct = coremltools()
    spec = ct.models.MLModel(str(path), skip_model_load=True).get_spec()
    desc = spec.description
    problems = []
    if spec.WhichOneof("Type") != "mlProgram":
        problems.append(f"model type {spec.WhichOneof('Type')}, not mlProgram")
    inputs = {i.name: i.type for i in desc.input}
    img = inputs.get("image")
    if len(inputs) != 1 or img is None or img.WhichOneof("Type") != "imageType":
        problems.append(f"inputs {sorted(inputs)} are not one image named 'image'")
    elif (img.imageType.width, img.imageType.height) != (image_size, image_size) or \
            img.imageType.colorSpace != ct.proto.FeatureTypes_pb2.ImageFeatureType.RGB:
        problems.append(f"input image is {img.imageType.width}x{img.imageType.height}, not RGB {image_size}")
    outputs = {o.name: o.type.WhichOneof("Type") for o in desc.output}
    labels: list[str] = []
    if task == "detection":
        expected = {"boxes": "multiArrayType", "scores": "multiArrayType", "labels": "multiArrayType"}
        labels = json.loads(desc.metadata.userDefined.get("labels", "[]"))
        if "non_maximum_suppression" not in _op_types(spec):
            problems.append("no non_maximum_suppression in the program")
    else:
        expected = {"classLabel": "stringType", "classLabel_probs": "dictionaryType"}
        if desc.predictedFeatureName != "classLabel" or desc.predictedProbabilitiesName != "classLabel_probs":
            problems.append("not a classifier (no predicted feature / probabilities)")
        labels = _program_classes(spec)
    if outputs != expected:
        problems.append(f"outputs {outputs}, expected {expected}")
    if labels != list(tags):
        problems.append(f"labels {labels}, expected {list(tags)}")
    if problems:
        raise CoreMLExportError(f"the saved Core ML model is not valid: {'; '.join(problems)}")
    checked = {"type": "mlProgram", "input": {"image": f"RGB {image_size}x{image_size}"}, "outputs": outputs,
               "labels": labels, "spec_version": spec.specificationVersion}
    return {**checked, "nms_inside": True} if task == "detection" else checked


def _op_types(spec: Any) -> set[str]:
    """Every op type of an ML program, nested blocks (``cond``, ``while_loop``) included."""
    found: set[str] = set()
    blocks = list(spec.mlProgram.functions["main"].block_specializations.values())
    while blocks:
        for op in blocks.pop().operations:
            found.add(op.type)
            blocks.extend(op.blocks)
    return found


def _program_classes(spec: Any) -> list[str]:
    """The class labels of an ML program classifier (its ``classify`` op's constant)."""
    for block in spec.mlProgram.functions["main"].block_specializations.values():
        for op in block.operations:
            if op.type == "classify":
                values = op.inputs["classes"].arguments[0].value.immediateValue.list.values
                return [str(v.immediateValue.tensor.strings.values[0]) for v in values]
    return []


def _parity(src: Path, module: nn.Module, script: Any, task: str, images: Sequence[str | Path],
            max_detections: int | None = None) -> dict[str, Any]:
    """The converted torch program against the Predictor, on the service's own pixels (the verdict) and on the
    uint8 image predict.py gives Core ML (``image_input``: measured, not judged; 8-bit is what Core ML takes)."""
    from training.ml.predict import Predictor
    from training.ml.runtime import make_session

    predictor = Predictor.load(src)
    size = predictor.image_size

    def from_image(src_image: Any) -> Tensor:
        """What Core ML gives the program: predict.py's uint8 image through the ImageType's scale and bias."""
        arr = script.model_input(src_image)
        return torch.from_numpy(arr).permute(2, 0, 1).unsqueeze(0).float() / 127.5 - 1.0

    if task == "detection":
        from PIL import Image as PILImage

        from training.ml.detection.export import parity_report
        from training.ml.detection.limits import detections_cap

        served = make_session(_stretch_model(size).SerializeToString(), 1)
        runs = [_Session(module, lambda arr: torch.from_numpy(served.run(None, {"image": arr})[0])),
                _Session(module, lambda arr: from_image(PILImage.fromarray(arr)))]
        report, image_input = (parity_report(predictor, run, images, max_detections=detections_cap(max_detections))
                               for run in runs)
        for r in (report, image_input):
            r.pop("onnx_ms_per_image", None)  # an eager torch timing, not the model's
            r.update(passed=r.pop("ok"), max_abs_diff=r["max_abs_probability_diff"])
    else:
        from training.ml.embeddings import preprocess_model
        from training.ml.export_openvino import classification_parity
        from training.ml.images import load_array

        pre = make_session(preprocess_model(size).SerializeToString(), 1)
        report = classification_parity(src, _probabilities(module, lambda p: torch.from_numpy(
            pre.run(None, {"image": load_array(p, image_size=size, draft=predictor.draft)})[0])), images)
        image_input = classification_parity(src, _probabilities(module, from_image), images)
    image_input.pop("passed", None)
    image_input.pop("tolerance", None)
    report["compared"] = ("the torch program converted to model.mlpackage, fed the service's own float pixels, "
                          "against the Tagsight service: proves what was converted computes the served model")
    report["image_input"] = {**image_input, "compared": "the same program fed predict.py's uint8 image (what Core ML "
                             "takes): the effect of 8-bit input, measured, not a pass criterion"}
    return report


def _stretch_model(size: int) -> Any:
    """uint8 [H, W, 3] -> float [1, 3, S, S] in [-1, 1]: the detector's pre-processing as the service runs it
    (ONNX Resize-18, linear, antialias, half-pixel, as ``runtime.export_torch`` exports ``data.preprocess``)."""
    from onnx import TensorProto, helper

    nodes = [
        helper.make_node("Cast", ["image"], ["f"], to=TensorProto.FLOAT),
        helper.make_node("Transpose", ["f"], ["chw"], perm=[2, 0, 1]),
        helper.make_node("Unsqueeze", ["chw", "axes0"], ["nchw"]),
        helper.make_node("Resize", ["nchw", "", "", "sizes"], ["resized"], mode="linear", antialias=1,
                         coordinate_transformation_mode="half_pixel"),
        helper.make_node("Mul", ["resized", "scale"], ["scaled"]),
        helper.make_node("Sub", ["scaled", "one"], ["pixels"]),
    ]
    inits = [helper.make_tensor("axes0", TensorProto.INT64, [1], [0]),
             helper.make_tensor("sizes", TensorProto.INT64, [4], [1, 3, size, size]),
             helper.make_tensor("scale", TensorProto.FLOAT, [], [1 / 127.5]),
             helper.make_tensor("one", TensorProto.FLOAT, [], [1.0])]
    graph = helper.make_graph(nodes, "stretch", [helper.make_tensor_value_info("image", TensorProto.UINT8,
                              ["height", "width", 3])], [helper.make_tensor_value_info("pixels", TensorProto.FLOAT,
                              [1, 3, size, size])], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    return model


def _probabilities(module: nn.Module, pixels: Callable[[Any], Tensor]) -> Callable[[Any], np.ndarray]:
    def run(path: Any) -> np.ndarray:
        with torch.inference_mode():
            return np.asarray(module(pixels(path))[0], dtype=np.float64)
    return run


class _Session:
    """onnxruntime's ``InferenceSession.run`` over the converted torch program, for ``parity_report``."""

    def __init__(self, module: nn.Module, pixels: Callable[[Any], Tensor]) -> None:
        self.module, self.pixels = module, pixels

    def run(self, _names: Any, feeds: dict[str, Any]) -> list[np.ndarray]:
        with torch.inference_mode():
            return [o.numpy() for o in self.module(self.pixels(feeds["image"]))]


_COREML_DOC = '''"""Standalone {what} for this Tagsight Core ML export (needs macOS, coremltools, Pillow, numpy).

    pip install coremltools pillow numpy
    python predict.py IMAGE [IMAGE ...]
    # prints JSON: [{{"image", "predictions": [{prints}]}}]

model.mlpackage (Core ML program, fp32) input "image": an RGB image of image_size x image_size (metadata.json);
the model scales it to [-1, 1] itself{inside}.
Core ML's image input cannot {outside}: model_input() does it exactly as the
Tagsight service does (iOS Vision apps: VNImageCropAndScaleOption{vision}).{outputs}
"""
'''

_COREML_PREPROCESS = '''
def resize_weights(length, size):
    """[size, length] weights of the service's antialiased linear resize (ONNX Resize-18: antialias, half-pixel;
    taps outside the image clamped to its edge)."""
    scale = size / length
    shrink = min(scale, 1.0)
    pad = int(np.ceil(1.0 / shrink)) + 1
    taps = np.arange(-pad, length + pad, dtype=np.float64) + 0.5
    centres = (np.arange(size, dtype=np.float64) + 0.5) / scale
    w = np.maximum(0.0, 1.0 - np.abs(taps[None, :] - centres[:, None]) * shrink)
    inside = w[:, pad:pad + length].copy()
    inside[:, 0] += w[:, :pad].sum(axis=1)
    inside[:, -1] += w[:, pad + length:].sum(axis=1)
    return inside / w.sum(axis=1, keepdims=True)


def model_input(src, size=METADATA["image_size"]):
    """The uint8 RGB [size, size, 3] image the model takes: {crop_doc}, antialiased resize, rounded."""
    a = load_array(src)
    if CROP:
        h, w = a.shape[:2]
        side = max(1, int(np.floor(CROP * min(h, w))))
        top, left = (h - side) // 2, (w - side) // 2
        a = a[top:top + side, left:left + side]
    rows = np.tensordot(resize_weights(a.shape[0], size), a.astype(np.float64), axes=(1, 0))
    out = np.tensordot(resize_weights(a.shape[1], size), rows, axes=(1, 1)).transpose(1, 0, 2)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _mlmodel(path):
    import coremltools as ct  # imported on use: Core ML itself runs only on macOS

    return ct.models.MLModel(str(path))
'''

_COREML_CLASSIFIER = '''
CROP = 0.875  # the centred square's share of the shorter side (the service's evaluation crop)


class Model:
    def __init__(self, path=HERE / "model.mlpackage"):
        self.model = _mlmodel(path)

    def probabilities(self, src):
        probs = self.model.predict({"image": Image.fromarray(model_input(src))})["classLabel_probs"]
        return np.array([probs[t] for t in LABELS])

    def predict(self, src):
        p = self.probabilities(src)
        return [{"tag": LABELS[i], "probability": float(p[i])} for i in np.argsort(-p, kind="stable")]
'''

_COREML_DETECTOR = '''
CROP = None  # detectors see the whole image, stretched to a square


class Model:
    def __init__(self, path=HERE / "model.mlpackage"):
        self.model = _mlmodel(path)

    def boxes(self, array):
        """The model on one decoded image: boxes, scores, labels."""
        out = self.model.predict({"image": Image.fromarray(model_input(Image.fromarray(array)))})
        return tuple(np.asarray(out[k]).reshape(-1, *s) for k, s in (("boxes", (4,)), ("scores", ()), ("labels", ())))

    def predict(self, src):
        return detection_rows(*detect(self.boxes, load_array(src)))
'''

_COREML_MAIN = '''

if __name__ == "__main__":
    model = Model()
    print(json.dumps([{"image": a, "predictions": model.predict(a)} for a in sys.argv[1:]], indent=1))
'''


def coreml_predict(task: str) -> str:
    """The source of the zip's ``predict.py`` for a classification or detection Core ML export."""
    if task == "detection":
        doc = _COREML_DOC.format(
            what="detector", prints="{tag, probability, box: {left, top, width, height}}",
            inside="; box decoding and NMS are inside too", outside="resize with antialiasing",
            vision=".scaleFill", outputs="\nOutputs: boxes [D, 4] (x0, y0, x1, y1 as fractions of the image), "
            "scores [D], labels [D] (index into labels.txt).")
        body = _COREML_DETECTOR
        crop_doc = "the whole image"
    else:
        doc = _COREML_DOC.format(what="predictor", prints="{tag, probability}", inside="",
                                 outside="crop the centre or resize with antialiasing", vision=".centerCrop",
                                 outputs="")
        body = _COREML_CLASSIFIER
        crop_doc = "centre square crop"
    loader = _SCRIPT_LOADER.format(runtime_import="# coremltools is imported by Model only: Core ML runs only on macOS")
    tiling = _TILES_SCRIPT if task == "detection" else ""
    return doc + loader + tiling + body + _COREML_PREPROCESS.replace("{crop_doc}", crop_doc) + _COREML_MAIN
