"""int8 models for compact domains: onnxruntime's static quantisation of a classifier's model.onnx, calibrated
on the training images, and the report that says whether it is good enough to use.

What is quantised, and why (measured on held-out images of three sets; see ``benchmarks/int8.py``):

* Only the backbone between its stem and the embedding. The in-graph pre-processing, the stem convolution and the
  linear head + softmax stay fp32. The head acts on *standardised* embeddings folded into its weights, so int8
  head weights and logits flipped a third of the fork/scissors answers; the stem sees the full-range image, the
  input that most often overflows the kernels below. Both are a few hundred kFLOPs, so they cost no speed.
* Per-channel int8 weights, uint8 activations, MinMax calibration (Entropy and Percentile measured no better).
* 7-bit weights (``reduce_range``) for the 1x1 / dense convolutions, full 8 bits for the depthwise ones. On x86
  CPUs without VNNI (AVX2, AVX-512 without VNNI) onnxruntime's u8 x s8 GEMM uses VPMADDUBSW, whose int16 pair sums
  saturate (255 * 127 * 2 > 32767); 7-bit weights keep every pair sum in range (255 * 63 * 2 < 32767). Its
  depthwise kernel does not saturate and loses accuracy at 7 bits, so it keeps 8. On VNNI and ARM CPUs the same
  model is simply exact to within its 7/8-bit rounding.

The report compares it with the fp32 model on the validation images: top-1 agreement, mAP of each against the
images' tags, and latency of both measured back to back on the same images, and says whether the CPU has VNNI.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from training.ml.images import load_array
from training.ml.metrics import compute_metrics
from training.ml.runtime import make_session

logger = logging.getLogger(__name__)

INT8_OPS = ["Conv", "Clip", "Add", "Pad", "GlobalAveragePool"]
CALIBRATION_IMAGES = 16
EMBEDDING = "embedding"  # the backbone's output in the classifier graph (training.ml.artifacts)
# The bar for using the int8 model instead of the fp32 one (issue #14).
MIN_TOP1_AGREEMENT = 0.99
MAX_MAP_DROP = 0.01
MIN_SPEEDUP = 1.8


def _backbone_plan(graph: Any) -> tuple[list[str], dict[str, list[dict[str, Any]]]]:
    """Names of the nodes to keep fp32 (pre-processing, stem conv, head) and the weight overrides (7-bit weights
    for every non-depthwise conv) of a classifier graph whose nodes all have names."""
    nodes = list(graph.node)
    convs = [n for n in nodes if n.op_type == "Conv"]
    if not convs or not any(EMBEDDING in n.output for n in nodes):
        raise ValueError("not a Tagsight classifier graph (no Conv, or no 'embedding' output)")
    stem = convs[0]  # nodes are topologically sorted: the first Conv is the stem
    inside, after_embedding = set(stem.output), {EMBEDDING}
    keep_fp32, overrides = [], {}
    for n in nodes:
        if n is stem or not inside & set(n.input) or after_embedding & set(n.input):
            keep_fp32.append(n.name)
            if after_embedding & set(n.input):
                after_embedding |= set(n.output)
            continue
        inside |= set(n.output)
        group = next((a.i for a in n.attribute if a.name == "group"), 1)
        if n.op_type == "Conv" and group == 1:
            overrides[n.input[1]] = [{"reduce_range": True, "axis": 0}]
    return keep_fp32, overrides


def quantize_classifier(model: Path, out: Path, *, calibration_images: Sequence[str | Path], image_size: int) -> None:
    """Write the int8 (QDQ) copy of ``model`` to ``out``, calibrated on up to CALIBRATION_IMAGES images.

    Args:
        model: the classifier's model.onnx (uint8 image in, "probabilities" and "embedding" out).
        out: where to write the int8 model (same inputs and outputs).
        calibration_images: training images; CALIBRATION_IMAGES of them, spread over the list, are used.
        image_size: the model's input size (decoding as the Predictor does).

    Raises:
        ValueError: the graph is not a Tagsight classifier.
    """
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
    chosen = paths[::step][:CALIBRATION_IMAGES]

    class Reader(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self.feeds = iter({"image": load_array(p, image_size=image_size)} for p in chosen)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.feeds, None)

    with tempfile.TemporaryDirectory(prefix="tagsight-int8-") as tmp:
        prepared = Path(tmp) / "prepared.onnx"  # Constant nodes folded, so Clip's bounds are visible to the quantiser
        quant_pre_process(str(model), str(prepared), skip_symbolic_shape=True)
        graph = onnx.load(str(prepared))
        for i, node in enumerate(graph.graph.node):  # nodes_to_exclude matches names; pre-processing has none
            node.name = node.name or f"tagsight_{i}_{node.op_type}"
        onnx.save(graph, str(prepared))
        keep_fp32, overrides = _backbone_plan(graph.graph)
        quantize_static(
            str(prepared), str(out), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, op_types_to_quantize=INT8_OPS,
            nodes_to_exclude=keep_fp32, calibrate_method=CalibrationMethod.MinMax,
            extra_options={"TensorQuantOverrides": overrides},
        )
    logger.info("int8 model %s calibrated on %d images (%d nodes kept fp32)", out, len(chosen), len(keep_fp32))


def cpu_has_vnni() -> bool | None:
    """Whether this CPU has AVX-512 VNNI or AVX-VNNI (int8 dot products without saturation); None off Linux."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    return "avx512_vnni" in flags or "avx_vnni" in flags


def int8_report(
    model: Path, int8_model: Path, images: Sequence[str | Path], *, tags: Sequence[str], image_size: int,
    truth: Mapping[str, Sequence[str]] | None = None, threads: int = 1, rounds: int = 1,
) -> dict[str, Any]:
    """The int8 model against the fp32 one on ``images``.

    Args:
        truth: image file stem -> its tags; with it, the mAP of both models against those tags.
        threads: intra-op threads of both sessions while timing (1: a phone's or a Pi's core, and fair on a
            shared machine).
        rounds: timed passes over ``images`` (the answers are those of the first).
    """
    fp32, int8 = make_session(model, threads), make_session(int8_model, threads)
    arrays = [load_array(p, image_size=image_size) for p in images]
    for session in (fp32, int8):  # warm-up: first-run allocations are not the model's speed
        if arrays:
            session.run(None, {"image": arrays[0]})
    seconds = {"fp32": 0.0, "int8": 0.0}
    probs: dict[str, list[np.ndarray]] = {"fp32": [], "int8": []}
    for round_ in range(max(1, rounds)):
        for array in arrays:  # back to back on each image, so load on the machine hits both alike
            for name, session in (("fp32", fp32), ("int8", int8)):
                start = time.perf_counter()
                out = session.run(["probabilities"], {"image": array})[0][0]
                seconds[name] += time.perf_counter() - start
                if round_ == 0:
                    probs[name].append(np.asarray(out, dtype=np.float64))
    n = max(len(arrays), 1)
    timed = n * max(1, rounds)
    agree = [int(a.argmax() == b.argmax()) for a, b in zip(probs["fp32"], probs["int8"], strict=True)]
    report: dict[str, Any] = {
        "images": len(arrays),
        "top1_agreement": sum(agree) / n if arrays else None,
        "max_abs_probability_diff": max((float(np.abs(a - b).max()) for a, b in zip(probs["fp32"], probs["int8"],
                                                                                   strict=True)), default=0.0),
        "fp32_ms_per_image": 1000 * seconds["fp32"] / timed,
        "int8_ms_per_image": 1000 * seconds["int8"] / timed,
        "speedup": seconds["fp32"] / seconds["int8"] if seconds["int8"] else None,
        "threads": threads,
        "cpu_vnni": cpu_has_vnni(),
        "size_bytes": {"fp32": Path(model).stat().st_size, "int8": Path(int8_model).stat().st_size},
    }
    if truth:
        maps = {}
        for name in ("fp32", "int8"):
            rows = [{"id": Path(p).stem, "tags": list(truth.get(Path(p).stem, ())), "boxes": [],
                     "predictions": [{"tag": t, "probability": float(v), "box": None} for t, v in zip(tags, pr,
                                                                                                      strict=True)]}
                    for p, pr in zip(images, probs[name], strict=True) if Path(p).stem in truth]
            maps[name] = float(compute_metrics("classification", list(tags), rows)["overall"]["ap"]) if rows else None
        report.update(fp32_map=maps["fp32"], int8_map=maps["int8"])
        if maps["fp32"] is not None and maps["int8"] is not None:
            report["map_delta"] = maps["int8"] - maps["fp32"]
    report["meets_bar"] = bool(
        report["top1_agreement"] is not None and report["top1_agreement"] >= MIN_TOP1_AGREEMENT
        and report.get("map_delta", 0.0) >= -MAX_MAP_DROP
        and (report["speedup"] or 0.0) >= MIN_SPEEDUP
    )
    report["bar"] = {"top1_agreement": MIN_TOP1_AGREEMENT, "max_map_drop": MAX_MAP_DROP, "speedup": MIN_SPEEDUP}
    return report
