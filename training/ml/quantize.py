"""int8 models for compact domains: onnxruntime's static quantisation of a classifier's model.onnx or an exported
detector's, calibrated on the training images, and the report that says whether it is good enough to use.

What is quantised, and why (measured on held-out images; see ``benchmarks/int8.py`` and README "Compact domains"):

* Only the convolutional network between its first block and its output layer: a classifier's backbone up to the
  embedding; a detector's backbone, feature pyramid and towers up to its class / box / centerness convolutions.
  The in-graph pre-processing (crop, antialiased Resize, normalisation), the stem convolution and the first block
  (a depthwise conv and its projection; :func:`_first_block`), the classifier's linear head + softmax and the
  detector's prediction convs, box decoding and NMS stay fp32. The head acts on *standardised* embeddings folded
  into its weights, so int8 head weights and logits flipped a third of the fork/scissors answers; box distances go
  through exp(), which turns int8 rounding into pixels. A quantised stem (the QLinearConv of a 3-channel image)
  measured slower than the fp32 one on an AVX-512 VNNI CPU (3.83 vs 3.45 ms per image for the whole classifier,
  8-bit weights both). The fp32 pre-processing is 8-16 % of the fp32 classifier's time and 17-34 % of the int8
  one's (JPEGs decoded at 360-816 px). The first block's depthwise conv (32 channels at 112 px in a classifier)
  ran slower in int8 than in fp32 on a Sapphire Rapids CPU (0.27 vs 0.19 ms, one thread), and after its
  projection the fp32 -> int8 boundary is half the stem's tensor (16 channels, not 32): with the first block kept
  fp32, the classifiers' int8 speed-up there went from 1.68 / 1.71 / 1.70x to 1.71 / 1.79 / 1.73x (hymenoptera,
  the quickstart's two sets), hymenoptera's largest probability difference from fp32 from 0.119 to 0.065, and
  raccoon's int8 detector at 256 px (seed 0) lost 0.7 points of mAP instead of 3.5.
* QDQ format (onnxruntime fuses it into QLinearConv / QLinearAdd at ORT_ENABLE_ALL; the QOperator format measured
  no faster, ORT_ENABLE_EXTENDED 1.3x slower), per-channel int8 weights, uint8 activations, MinMax calibration on
  up to CALIBRATION_IMAGES training images (Entropy and Percentile measured no better).
* Bias correction (Nagel et al., "Data-Free Quantization Through Weight Equalization and Bias Correction", 2019):
  rounding a conv's weights shifts its outputs' mean by (W_int8 - W) . E[x], and in depthwise convs (9 weights a
  channel) that shift is systematic and adds up through the network. The quantiser runs twice: after the first
  pass, each quantised conv's fp32 bias gives back (W_int8 - W) . E[x], E[x] being its input's per-channel mean
  in the fp32 model on the calibration images, and the second pass quantises the corrected model (the same int8
  weights, but for the few channels onnxruntime widens so that their bias fits int32). On hymenoptera's 60
  held-out photos this took top-1 agreement with fp32 from 0.967 to 1.000 (max probability difference 0.108 ->
  0.083) at the same speed; the quickstart sets stay at 1.000.
* 7-bit weights (``reduce_range``) for the 1x1 / dense convolutions, full 8 bits for the depthwise ones: the model
  is portable. On x86 CPUs without VNNI (AVX2, AVX-512 without VNNI) onnxruntime's u8 x s8 GEMM uses VPMADDUBSW,
  whose int16 pair sums saturate (255 * 127 * 2 > 32767); 7-bit weights keep every pair sum in range
  (255 * 63 * 2 < 32767), so the model gives the same answers there, only less faster (1.1-1.4x measured on an
  AVX2 CPU without VNNI). On VNNI CPUs (VPDPBUSD, no saturation) full 8-bit weights measured no faster
  (3.22 vs 3.33 ms) and no more accurate, so the 7-bit model is the one for every CPU. The depthwise kernel does
  not saturate and loses accuracy at 7 bits, so it keeps 8.
* Optionally a smaller input (:func:`smallest_accurate`): the int8 model is tried at :func:`int8_input_sizes` of
  the fp32 model's input, smallest first, and kept at the first whose answers on the validation images stay within
  the bar (:func:`accurate_smaller`). Its convolutions cost ~(fraction)^2, the fixed fp32 pre- and post-processing
  does not shrink. A detector's graph is traced again at that size; a classifier's only resizes to it
  (:func:`classifier_at_size`).

The report compares it with the fp32 model on the validation images: top-1 agreement (detection: of the most
probable box), mAP of each against the images' tags (detection: box mAP@0.5), and latency of both measured back
to back on the same images, and says whether the CPU has VNNI and whether the bar of issue #14 is met; the server
runs a compact classification iteration's int8 model only where it is (``add_int8_model``, ``Predictor.load``).
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from training.ml.images import DRAFT_FACTOR, draft_factor, load_array
from training.ml.metrics import compute_metrics
from training.ml.runtime import make_session

logger = logging.getLogger(__name__)

INT8_OPS = ["Conv", "Clip", "Add", "Pad", "GlobalAveragePool"]
CALIBRATION_IMAGES = 16
BIAS_CORRECTION = True  # see the module's docstring; benchmarks/int8.py --no-bias-correction measures without it
INT8_FILE = "model_int8.onnx"
EMBEDDING = "embedding"  # the backbone's output in the classifier graph (training.ml.artifacts)
# A detector's prediction convolutions (training.ml.detection.model.DetectionHead): what follows them is box
# decoding and NMS.
DETECTOR_OUTPUTS = ("cls_logits", "bbox_pred", "centerness")
# The bar of a compact domain's int8 model (issue #14); the server runs it where it agrees as the bar asks and is
# faster at all (:func:`served`).
MIN_TOP1_AGREEMENT = 0.99
MAX_MAP_DROP = 0.01
MIN_SPEEDUP = 1.8
# A compact detector's int8 model may take a smaller input than its fp32 model (issue #14's "optionally a smaller
# input"): the ONNX export tries these fractions of the detector's input size, smallest first, and keeps the first
# whose answers on the validation images stay within the bar (:func:`accurate_smaller`), else the detector's own
# size. Its convolutions then cost ~(fraction)^2; the fixed fp32 pre- and post-processing (the resize of the whole
# photo, box decoding, NMS) does not shrink, and is what held the same-size int8 detector below 1.8x.
SMALLER_INPUTS = (0.8, 0.9)
# A classifier's probabilities are what the server answers and what apps compare with their thresholds, so its int8
# model may take a smaller input only where no validation image's probabilities move by more than this against
# fp32's at full size: the full-size int8 model's own largest shift (quantisation alone) measured 0.065-0.12 on
# hymenoptera's 60 held-out photos. At 192 px for 224 the quickstart's two sets moved by at most 0.001 (2.2-2.3x
# fp32's speed), hymenoptera by up to 0.39 on 4 of its 60 photos (top-1 unchanged), so it keeps 224 px.
MAX_SMALLER_PROBABILITY_SHIFT = 0.1
# When quantising (training, exports), the speed-up is timed on this many of the validation images (each image's
# fastest of 3 passes); agreement and mAP are measured on all of them. Up to 100 images timed 3 times over took
# most of a compact training's quantisation step for a figure that 20 images give within its run-to-run spread.
TIMED_IMAGES = 20
QUANTISATION = ("onnxruntime static QDQ of the convolutional backbone{neck} (pre-processing, stem, first "
                "block{rest} fp32): per-channel int8 weights (7-bit in 1x1 convs), uint8 activations, MinMax "
                "calibration on training images, bias correction of the weights' rounding")


def _group(node: Any) -> int:
    """A Conv node's ``group`` attribute (1 unless set; the channel count for a depthwise conv)."""
    return next((a.i for a in node.attribute if a.name == "group"), 1)


def _plan(graph: Any, stops: Callable[[Any], bool]) -> tuple[list[str], dict[str, list[dict[str, Any]]]]:
    """Names of the nodes to keep fp32 and the weight overrides (7-bit weights for every non-depthwise conv) of a
    graph whose nodes all have names: quantised are the nodes fed, directly or not, by the first block's last conv
    (:func:`_first_block`), up to the first ``stops`` node on each path; that node and everything it feeds stay
    fp32, as does everything before it."""
    nodes = list(graph.node)
    last = _first_block(nodes)
    inside, after = set(last.output), set[str]()
    keep_fp32, overrides = [], {}
    for n in nodes:
        if n is not last and inside & set(n.input) and not after & set(n.input) and not stops(n):
            inside |= set(n.output)
            if n.op_type == "Conv" and _group(n) == 1:
                overrides[n.input[1]] = [{"reduce_range": True, "axis": 0}]
            continue
        keep_fp32.append(n.name)
        if n is not last and (stops(n) or after & set(n.input)):
            after |= set(n.output)
    return keep_fp32, overrides


def _first_block(nodes: Sequence[Any]) -> Any:
    """The last conv of the network's first block, which stays fp32 with everything before it: the stem (the first
    Conv; nodes are topologically sorted), the first depthwise conv and the conv after it (EfficientNet-Lite's
    block 0: a 3x3 depthwise conv at half the input size and its 1x1 projection to 16 channels; why, in the
    module's docstring). A network without a depthwise conv keeps only its stem fp32."""
    convs = [n for n in nodes if n.op_type == "Conv"]
    if not convs:
        raise ValueError("no Conv in the graph")
    first = next((i for i, n in enumerate(convs) if _group(n) > 1), None)
    return convs[first + 1] if first is not None and first + 1 < len(convs) else convs[0]


def _dequantised_weights(graph: Any) -> dict[str, np.ndarray]:
    """Conv node name -> its weights as the int8 model computes with them (int8 values x per-channel scale), for
    every Conv of a QDQ graph whose weights come through a DequantizeLinear of initializers."""
    from onnx import numpy_helper

    inits = {t.name: t for t in graph.initializer}
    dequantise = {n.output[0]: n for n in graph.node if n.op_type == "DequantizeLinear"}
    found = {}
    for node in graph.node:
        dq = dequantise.get(node.input[1]) if node.op_type == "Conv" and len(node.input) > 1 else None
        if dq is None or not all(name in inits for name in dq.input):
            continue
        q = numpy_helper.to_array(inits[dq.input[0]]).astype(np.float32)
        scale = numpy_helper.to_array(inits[dq.input[1]]).astype(np.float32)
        zero = numpy_helper.to_array(inits[dq.input[2]]).astype(np.float32) if len(dq.input) > 2 else np.float32(0)
        shape = (-1,) + (1,) * (q.ndim - 1) if scale.ndim else ()  # per-channel along axis 0 (the output channels)
        found[node.name] = (q - zero.reshape(shape)) * scale.reshape(shape)
    return found


def _correct_biases(prepared: Path, quantised: Path, arrays: Sequence[np.ndarray]) -> int:
    """Subtract from each quantised conv's bias in ``prepared`` (the fp32 model ``quantised`` was made from) the
    mean shift its int8 weights cause, (W_int8 - W) . E[x], E[x] being the per-channel mean of the conv's input in
    the fp32 model over ``arrays``. Returns how many biases were corrected."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    int8_weights = _dequantised_weights(onnx.load(str(quantised)).graph)
    model = onnx.load(str(prepared))
    inits = {t.name: t for t in model.graph.initializer}
    convs = [n for n in model.graph.node
             if n.op_type == "Conv" and n.name in int8_weights and len(n.input) == 3 and n.input[2] in inits]
    if not convs or not arrays:
        return 0
    probe = onnx.load(str(prepared))  # the same graph with every corrected conv's input as an output
    inputs = list(dict.fromkeys(n.input[0] for n in convs))
    outputs = {o.name for o in probe.graph.output}
    probe.graph.output.extend(helper.make_tensor_value_info(name, TensorProto.FLOAT, None)
                              for name in inputs if name not in outputs)
    session = make_session(probe.SerializeToString(), memory_arena=False)
    sums: list[np.ndarray | float] = [0.0] * len(inputs)
    for array in arrays:
        values = session.run(inputs, {"image": array})
        sums = [s + v.mean(axis=(0, 2, 3), dtype=np.float64) for s, v in zip(sums, values, strict=True)]
    means = {name: (np.asarray(s) / len(arrays)).astype(np.float32) for name, s in zip(inputs, sums, strict=True)}
    for node in convs:
        weights = numpy_helper.to_array(inits[node.input[1]]).astype(np.float32)
        error = int8_weights[node.name] - weights  # (out, in / group, kh, kw)
        mean = means[node.input[0]]
        group = _group(node)
        if group == 1:
            shift = np.einsum("oikl,i->o", error, mean)
        else:  # grouped (depthwise): output channel o reads its group's error.shape[1] input channels
            per_out = error.shape[0] // group
            grouped = mean.reshape(group, error.shape[1])
            shift = np.einsum("oikl,oi->o", error, np.repeat(grouped, per_out, axis=0))
        bias = inits[node.input[2]]
        bias.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(bias).astype(np.float32) - shift, bias.name))
    onnx.save(model, str(prepared))
    return len(convs)


def _quantize(model: Path, out: Path, *, calibration_images: Sequence[str | Path], image_size: int, draft: int,
              stops: Callable[[Any], bool], check: Callable[[Any], bool]) -> None:
    """The int8 (QDQ) copy of ``model`` (one input, "image": uint8 [H, W, 3]) in ``out``, quantised between its first
    block and ``stops`` (see :func:`_plan`), calibrated on up to CALIBRATION_IMAGES of ``calibration_images``; with
    BIAS_CORRECTION, quantised twice, the second time with biases corrected (:func:`_correct_biases`)."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    paths = list(calibration_images)
    step = max(1, len(paths) // CALIBRATION_IMAGES)
    arrays = [load_array(p, image_size=image_size, draft=draft) for p in paths[::step][:CALIBRATION_IMAGES]]

    class Reader(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self.feeds = iter({"image": a} for a in arrays)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.feeds, None)

    with tempfile.TemporaryDirectory(prefix="tagsight-int8-") as tmp:
        prepared = Path(tmp) / "prepared.onnx"  # Constant nodes folded, so Clip's bounds are visible to the quantiser
        quant_pre_process(str(model), str(prepared), skip_symbolic_shape=True)
        graph = onnx.load(str(prepared))
        if not check(graph.graph):
            raise ValueError(f"{model} is not a Tagsight graph of the expected kind")
        for i, node in enumerate(graph.graph.node):  # nodes_to_exclude matches names; pre-processing has none
            node.name = node.name or f"tagsight_{i}_{node.op_type}"
        onnx.save(graph, str(prepared))
        keep_fp32, overrides = _plan(graph.graph, stops)

        def quantise() -> None:
            quantize_static(
                str(prepared), str(out), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, op_types_to_quantize=INT8_OPS,
                nodes_to_exclude=keep_fp32, calibrate_method=CalibrationMethod.MinMax,
                extra_options={"TensorQuantOverrides": overrides},
            )

        quantise()
        corrected = _correct_biases(prepared, out, arrays) if BIAS_CORRECTION else 0
        if corrected:
            quantise()
    logger.info("int8 model %s calibrated on %d images (%d nodes kept fp32, %d biases corrected)", out, len(arrays),
                len(keep_fp32), corrected)


def quantize_classifier(model: Path, out: Path, *, calibration_images: Sequence[str | Path], image_size: int,
                        draft: int = DRAFT_FACTOR) -> None:
    """Write the int8 (QDQ) copy of a classifier's ``model`` to ``out``: its backbone between the first block and the
    embedding quantised, calibrated on up to CALIBRATION_IMAGES images.

    Args:
        model: the classifier's model.onnx (uint8 image in, "probabilities" and "embedding" out).
        out: where to write the int8 model (same inputs and outputs).
        calibration_images: training images; CALIBRATION_IMAGES of them, spread over the list, are used.
        image_size: the model's input size and ``draft`` its JPEG draft factor (decoding as the Predictor does).

    Raises:
        ValueError: the graph is not a Tagsight classifier.
    """
    _quantize(model, out, calibration_images=calibration_images, image_size=image_size, draft=draft,
              stops=lambda n: EMBEDDING in n.input or n.op_type in ("Mul", "Pow"),  # GeM pooling's powers: fp32
              check=lambda g: any(EMBEDDING in n.output for n in g.node) and any(n.op_type == "Conv" for n in g.node))


def quantize_detector(model: Path, out: Path, *, calibration_images: Sequence[str | Path], image_size: int) -> None:
    """Write the int8 (QDQ) copy of an exported detector (``training.ml.detection.export``: image -> boxes, scores,
    labels) to ``out``: its backbone, feature pyramid and towers quantised; pre-processing, the stem and first
    block, the three prediction convs (class, box, centerness), box decoding and NMS fp32.

    Raises:
        ValueError: the graph is not a Tagsight detector.
    """
    _quantize(model, out, calibration_images=calibration_images, image_size=image_size, draft=DRAFT_FACTOR,
              stops=lambda n: any(name in n.name for name in DETECTOR_OUTPUTS),
              check=lambda g: {"boxes", "scores", "labels"} <= {o.name for o in g.output})


def add_int8_model(artifact: Path, *, calibration_images: Sequence[str | Path], images: Sequence[str | Path],
                   truth: Mapping[str, Sequence[str]] | None = None) -> dict[str, Any]:
    """Quantise a classifier artifact's model.onnx into its ``model_int8.onnx`` (calibrated on
    ``calibration_images``; at the smallest input whose answers on ``images``, with their tags ``truth``, stay as
    accurate as the bar asks: :func:`int8_classifier`) and record its :func:`int8_report` on ``images`` as its
    metadata's "int8" entry, which ``Predictor.load(..., int8=True)`` reads: it serves the int8 model where
    :func:`served` says so.

    Returns:
        The report.
    """
    from training.ml import artifacts

    metadata = artifacts.read_metadata(artifact)
    size = int(metadata["image_size"])
    draft = draft_factor(metadata)
    report = int8_classifier(artifact / artifacts.MODEL_FILE, artifact / INT8_FILE,
                             calibration_images=calibration_images, images=images, tags=metadata["tags"],
                             image_size=size, draft=draft, truth=truth)
    metadata["int8"] = {"file": INT8_FILE, "meets_bar": report["meets_bar"], "served": served(report),
                        "image_size": report["image_size"], "report": report,
                        "quantisation": QUANTISATION.format(neck="", rest=" and head")}
    (artifact / artifacts.METADATA_FILE).write_text(json.dumps(metadata, indent=1))
    logger.info("int8 model of %s: agreement %s, mAP delta %s, %.2fx; served: %s", artifact,
                report["top1_agreement"], report.get("map_delta"), report["speedup"] or 0.0, served(report))
    return report


def served(report: Mapping[str, Any]) -> bool:
    """Whether the server runs the int8 model of an :func:`int8_report`: where it agrees with fp32 as the bar asks
    (top-1 agreement, mAP) and is faster at all. Speed is not held to the bar's MIN_SPEEDUP here: the measured
    ratio of the same two models moves by about ±0.1 from run to run (1.75-1.89x on our VNNI CPU), so a verdict at
    1.8x would serve two identical trainings differently; the int8 model is still the faster one everywhere we
    measured (1.1-1.4x on a CPU without VNNI)."""
    agreement = report.get("top1_agreement")
    return bool(
        agreement is not None and (report.get("task") == "detection" or agreement >= MIN_TOP1_AGREEMENT)
        and report.get("map_delta", 0.0) >= -MAX_MAP_DROP and (report.get("speedup") or 0.0) > 1.0
    )


def int8_input_sizes(image_size: int) -> list[int]:
    """The input sizes a compact model's int8 copy is tried at, smallest first, ending with ``image_size``:
    SMALLER_INPUTS of it, on the 32 px grid of the networks' strides (at such a size every stride-2 convolution
    meets an even side, as at 224 or 320 px, so a classifier's static padding stays right)."""
    smaller = {32 * round(image_size * f / 32) for f in SMALLER_INPUTS}
    return sorted(s for s in smaller if 0 < s < image_size) + [image_size]


def accurate_smaller(report: Mapping[str, Any]) -> bool:
    """Whether an int8 model at a smaller input than its fp32 model may stand in for it: its mAP on the validation
    images (detection: box mAP@0.5) within the bar of fp32's, the same most probable answer (detection: tag and
    IoU >= 0.5) on at least MIN_TOP1_AGREEMENT of them, which the bar asks only of classifiers, and (classifiers)
    no probability moved by more than MAX_SMALLER_PROBABILITY_SHIFT. Without the images' tags or boxes it may
    not."""
    delta, agreement = report.get("map_delta"), report.get("top1_agreement")
    return bool(delta is not None and delta >= -MAX_MAP_DROP and agreement is not None
                and agreement >= MIN_TOP1_AGREEMENT
                and report.get("max_abs_probability_diff", 0.0) <= MAX_SMALLER_PROBABILITY_SHIFT)


def smallest_accurate(model: Path, out: Path, *, image_size: int, smaller: bool,
                      graph_at: Callable[[int, Path], None], quantise: Callable[[Path], None],
                      measure: Callable[[], dict[str, Any]],
                      screen: Callable[[Path], dict[str, Any]] | None = None) -> dict[str, Any]:
    """Quantise ``model`` into ``out`` at the smallest of :func:`int8_input_sizes` whose report stays as accurate as
    the bar asks (:func:`accurate_smaller`), else at ``image_size``; only at ``image_size`` unless ``smaller``
    (the validation images' tags or boxes are known).

    Args:
        graph_at: writes the fp32 graph at a smaller input size to a path (quantised, then deleted).
        quantise: quantises a fp32 graph into ``out``.
        measure: the :func:`int8_report` of ``out`` against ``model``.
        screen: the report of a smaller size's fp32 graph against ``model``; a size whose fp32 graph is already
            not accurate enough is not quantised (its candidate says ``screened``).

    Returns:
        The report of the size taken, with its ``image_size``, model's (``fp32_image_size``) and every size tried
        with its figures (``candidates``).
    """
    candidates: list[dict[str, Any]] = []
    graph = out.with_name(out.stem + "_fp32.onnx")
    try:
        for input_size in int8_input_sizes(image_size) if smaller else [image_size]:
            source = model
            if input_size != image_size:
                graph_at(input_size, graph)
                source = graph
                first = screen(graph) if screen is not None else None
                if first is not None and not accurate_smaller(first):
                    candidates.append({"image_size": input_size, "taken": False, "screened": True, **{
                        k: first[k] for k in ("top1_agreement", "map_delta", "max_abs_probability_diff")
                        if k in first}})
                    continue
            quantise(source)
            result = measure()
            taken = input_size == image_size or accurate_smaller(result)
            candidates.append({"image_size": input_size, "taken": taken, **{
                k: result[k] for k in ("top1_agreement", "fp32_map", "int8_map", "map_delta", "speedup",
                                       "max_abs_probability_diff") if k in result}})
            if taken:
                return {**result, "image_size": input_size, "fp32_image_size": image_size, "candidates": candidates}
    finally:
        graph.unlink(missing_ok=True)
    raise AssertionError("the model's own size is always taken")  # pragma: no cover


def classifier_at_size(model: Path, out: Path, image_size: int) -> None:
    """Write ``model`` (a classifier's model.onnx) to ``out`` with its pre-processing resizing to ``image_size``
    instead: the same crop, normalisation, trunk and head. Its convolutions are size-agnostic and the global pool
    averages whatever size they give; on :func:`int8_input_sizes`' grid the static padding of every stride-2
    convolution is what a trunk exported at that size has (measured: the same probabilities as a trunk exported at
    192 px)."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(model))
    sizes = {n.input[3] for n in graph.graph.node if n.op_type == "Resize" and len(n.input) > 3 and n.input[3]}
    if not sizes:
        raise ValueError(f"{model} has no pre-processing Resize to a given size")
    for init in graph.graph.initializer:
        if init.name in sizes:
            array = numpy_helper.to_array(init).copy()
            array[-2:] = image_size
            init.CopyFrom(numpy_helper.from_array(array, init.name))
    onnx.save(graph, str(out))


def int8_classifier(model: Path, out: Path, *, calibration_images: Sequence[str | Path],
                    images: Sequence[str | Path], tags: Sequence[str], image_size: int, draft: int,
                    truth: Mapping[str, Sequence[str]] | None = None) -> dict[str, Any]:
    """``out``: the int8 copy of a classifier's ``model``, at the smallest input whose answers on ``images`` (with
    their tags, ``truth``) stay as accurate as the bar asks (:func:`smallest_accurate`), and its
    :func:`int8_report` against ``model`` on them. Images are decoded for ``model`` (its size and draft factor).
    A smaller size whose fp32 answers already move too far is not quantised: rounding to int8 only adds to the
    shift (hymenoptera at 192 px: fp32 0.229, int8 0.389), and judging the fp32 graph costs less than quantising
    and measuring it (hymenoptera's int8 model: 6.0 s in all, against 9.1 s, when all 60 of its validation
    images were timed)."""
    def report(other: Path, rounds: int = 3) -> dict[str, Any]:
        return int8_report(model, other, images, tags=tags, image_size=image_size, truth=truth, draft=draft,
                           rounds=rounds, timed=TIMED_IMAGES)

    return smallest_accurate(
        model, out, image_size=image_size, smaller=bool(truth),
        graph_at=lambda size, path: classifier_at_size(model, path, size),
        quantise=lambda source: quantize_classifier(source, out, calibration_images=calibration_images,
                                                    image_size=image_size, draft=draft),
        measure=lambda: report(out), screen=lambda graph: report(graph, rounds=1))


def cpu_has_vnni() -> bool | None:
    """Whether this CPU has AVX-512 VNNI or AVX-VNNI (int8 dot products without saturation); None off Linux."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    return "avx512_vnni" in flags or "avx_vnni" in flags


def _timed_outputs(
    fp32: Any, int8: Any, arrays: Sequence[np.ndarray], outputs: list[str] | None, rounds: int,
    clock: Callable[[], float], timed: int,
) -> tuple[dict[str, float], dict[str, list[list[np.ndarray]]]]:
    """Seconds per model (the sum over the first ``timed`` images of each image's fastest pass by ``clock``: on a
    shared machine other jobs only ever add time) and each model's outputs on every image (from the first pass, the
    only one over the images after the first ``timed``); both run back to back on each image, so load on the
    machine hits both alike."""
    for session in (fp32, int8):  # warm-up: first-run allocations are not the model's speed
        if len(arrays):
            session.run(outputs, {"image": arrays[0]})
    best = {"fp32": [float("inf")] * timed, "int8": [float("inf")] * timed}
    answers: dict[str, list[list[np.ndarray]]] = {"fp32": [], "int8": []}
    for round_ in range(max(1, rounds)):
        for i, array in enumerate(arrays if round_ == 0 else arrays[:timed]):
            for name, session in (("fp32", fp32), ("int8", int8)):
                start = clock()
                out = session.run(outputs, {"image": array})
                if i < timed:
                    best[name][i] = min(best[name][i], clock() - start)
                if round_ == 0:
                    answers[name].append([np.asarray(o) for o in out])
    return {name: sum(times) for name, times in best.items()}, answers


def int8_report(
    model: Path, int8_model: Path, images: Sequence[str | Path], *, tags: Sequence[str], image_size: int,
    truth: Mapping[str, Sequence[Any]] | None = None, threads: int = 1, rounds: int = 3,
    task: str = "classification", draft: int = DRAFT_FACTOR, timed: int | None = None,
) -> dict[str, Any]:
    """The int8 model against the fp32 one on ``images``.

    Args:
        truth: image file stem -> its tags (classification) or its boxes (detection: {"tag", "left", "top",
            "width", "height"}); with it, the mAP (detection: box mAP@0.5) of both models against it.
        threads: intra-op threads of both sessions while timing (1: a phone's or a Pi's core, and fair on a
            shared machine). With 1, onnxruntime computes on the calling thread, and the time is that thread's CPU
            time (``time.thread_time``), which other jobs on a shared machine barely inflate (wall-clock ratios
            on our loaded 2-core machine ranged 1.2-2.6x for the same pair of models, CPU-time ones 1.6-1.8x);
            with more, the wall-clock time.
        rounds: timed passes over ``images``; each image's time is its fastest pass.
        timed: the speed is measured on the first ``timed`` images only (all: None); the answers, agreement and mAP
            on all of them.
        task: "classification" (model: image -> probabilities) or "detection" (image -> boxes, scores, labels).
        draft: the model's JPEG draft factor (``images.draft_factor``): images are decoded as the Predictor does.

    Returns:
        images, top1_agreement (detection: the most probable box has the same tag and IoU >= 0.5 with fp32's, or
        neither model finds one), speed (fp32 / int8 ms per image, speedup), fp32_map / int8_map / map_delta with
        ``truth``, meets_bar and the bar: agreement (classification only), mAP and speed-up.
    """
    detection = task == "detection"
    fp32, int8 = (make_session(m, threads, memory_arena=not detection) for m in (model, int8_model))
    arrays = [load_array(p, image_size=image_size, draft=draft) for p in images]
    clock = time.thread_time if threads == 1 else time.perf_counter
    n_timed = len(arrays) if timed is None else min(timed, len(arrays))
    seconds, answers = _timed_outputs(fp32, int8, arrays, None if detection else ["probabilities"], rounds, clock,
                                      n_timed)
    rows: dict[str, list[list[dict[str, Any]]]] = {
        name: [_detections(*out) if detection else _probabilities(out[0][0]) for out in outs]
        for name, outs in answers.items()
    }
    agree = [_same_top(a, b) for a, b in zip(rows["fp32"], rows["int8"], strict=True)]
    n = max(len(arrays), 1)
    report: dict[str, Any] = {
        "task": task,
        "images": len(arrays),
        "timed_images": n_timed,
        "top1_agreement": sum(agree) / n if arrays else None,
        "fp32_ms_per_image": 1000 * seconds["fp32"] / max(n_timed, 1),
        "int8_ms_per_image": 1000 * seconds["int8"] / max(n_timed, 1),
        "speedup": seconds["fp32"] / seconds["int8"] if seconds["int8"] else None,
        "threads": threads,
        "clock": "thread CPU time" if threads == 1 else "wall clock",
        "cpu_vnni": cpu_has_vnni(),
        "size_bytes": {"fp32": Path(model).stat().st_size, "int8": Path(int8_model).stat().st_size},
    }
    if not detection:
        report["max_abs_probability_diff"] = max(
            (float(np.abs(a[0][0] - b[0][0]).max()) for a, b in zip(answers["fp32"], answers["int8"], strict=True)),
            default=0.0)
    if truth:
        maps = {}
        for name in ("fp32", "int8"):
            scored = [{"id": Path(p).stem, "tags": [] if detection else list(truth.get(Path(p).stem, ())),
                       "boxes": list(truth.get(Path(p).stem, ())) if detection else [],
                       "predictions": [{**r, "tag": tags[r["label"]]} for r in found]}
                      for p, found in zip(images, rows[name], strict=True) if Path(p).stem in truth]
            maps[name] = float(compute_metrics(task, list(tags), scored)["overall"]["ap"]) if scored else None
        report.update(fp32_map=maps["fp32"], int8_map=maps["int8"])
        if maps["fp32"] is not None and maps["int8"] is not None:
            report["map_delta"] = maps["int8"] - maps["fp32"]
    report["meets_bar"] = served(report) and (report["speedup"] or 0.0) >= MIN_SPEEDUP
    report["bar"] = {**({} if detection else {"top1_agreement": MIN_TOP1_AGREEMENT}), "max_map_drop": MAX_MAP_DROP,
                     "speedup": MIN_SPEEDUP}
    return report


def _probabilities(p: np.ndarray) -> list[dict[str, Any]]:
    """A classifier's probabilities as predictions (label = tag index, most probable first)."""
    return [{"label": int(i), "probability": float(p[i]), "box": None} for i in np.argsort(-p, kind="stable")]


def _detections(boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray) -> list[dict[str, Any]]:
    """A detector's outputs (x0, y0, x1, y1 fractions, sorted by score) as predictions."""
    return [{"label": int(c), "probability": float(p),
             "box": {"left": float(x0), "top": float(y0), "width": float(x1 - x0), "height": float(y1 - y0)}}
            for (x0, y0, x1, y1), p, c in zip(boxes.tolist(), scores.tolist(), labels.tolist(), strict=True)]


def _same_top(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> bool:
    """Whether two answers agree on their most probable prediction (same tag; boxes of IoU >= 0.5)."""
    if not a or not b:
        return not a and not b
    if a[0]["label"] != b[0]["label"]:
        return False
    if a[0]["box"] is None:
        return True
    x, y = a[0]["box"], b[0]["box"]
    iw = max(0.0, min(x["left"] + x["width"], y["left"] + y["width"]) - max(x["left"], y["left"]))
    ih = max(0.0, min(x["top"] + x["height"], y["top"] + y["height"]) - max(x["top"], y["top"]))
    inter = iw * ih
    union = x["width"] * x["height"] + y["width"] * y["height"] - inter
    return bool(union > 0 and inter / union >= 0.5)
