"""Exports at an older ONNX opset (Azure's ``ONNX10`` / ``ONNX12`` flavors) with the same graph contract.

Tagsight's graphs are opset 18 because the in-graph pre-processing uses ``Resize`` with ``antialias=1``
(new in opset 18). The older runtimes those flavors exist for have no such Resize, so the legacy graphs
compute the same antialiased resize (Resize-18's triangle filter, half-pixel, edge taps clamped) as two
MatMuls with weight matrices built in the graph from the input's size: ``out = Wy @ x @ Wx^T``. Only ops
of opset <= 10 build them (the indices 0..n-1 come from ``NonZero(ConstantOfShape(n, 1))``; there is no Range before
opset 11), so the input contract (uint8 [H, W, 3] RGB, any size), the outputs and the predictions stay
those of the opset-18 graph, to float rounding (the parity report checks it).

* Classifiers (an ONNX graph in the artifact): :func:`classifier_at_opset` swaps the pre-processing and
  rewrites the trunk and head for the older opset (constants folded; Clip/Pad/Unsqueeze/Softmax/... in
  their older forms; anything it does not know is refused rather than guessed).
* Detectors (torch weights in the artifact) are exported again by torch at the older opset with
  :func:`register_legacy_symbolics` supplying the same MatMul resize (and NMS at opset 10).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

DEFAULT_OPSET = 18
LEGACY_OPSETS = (10, 12)

# Ops whose form (for the types and attributes our exporters emit) is the same from the given opset up to 18:
# later versions only added types, or optional attributes checked absent below. Anything else is refused.
_SAME_SINCE = {
    **dict.fromkeys(
        ("Abs", "Add", "And", "ArgMax", "BatchNormalization", "Cast", "Ceil", "Concat", "Conv", "Div", "Equal",
         "Exp", "Flatten", "Floor", "Gather", "Gemm", "GlobalAveragePool", "Greater", "Identity", "LeakyRelu",
         "Less", "Log", "MatMul", "MaxPool", "Mul", "Neg", "NonMaxSuppression", "NonZero", "Not", "Pow", "Reciprocal",
         "Relu", "Reshape", "Sigmoid", "Slice", "Softmax", "Sqrt", "Sub", "Tanh", "TopK", "Transpose", "Where"),
        10,
    ),
    "Range": 11,
    "GatherND": 12,
    "Min": 12,  # integer inputs from 12 on
    "Max": 12,
}
# axes moved from an attribute to an input in opset 13 (Unsqueeze/Squeeze/ReduceSum) or 18 (other Reduce*).
_AXES_INPUT_SINCE = {"Unsqueeze": 13, "Squeeze": 13, "ReduceSum": 13, "ReduceMean": 18, "ReduceMax": 18,
                     "ReduceMin": 18, "ReduceProd": 18, "ReduceL2": 18}


class OpsetError(ValueError):
    """The graph uses something this module cannot express at the requested opset."""


def ir_version_for(opset: int) -> int:
    return int(helper.find_min_ir_version_for([helper.make_opsetid("", opset)]))


# ---------------------------------------------------------------- graph builders (onnx.helper and torch)


class _Nodes:
    """Collects onnx.helper nodes and initializers under unique names (the builder for plain graphs)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._n = 0

    def _name(self) -> str:
        self._n += 1
        return f"{self.prefix}{self._n}"

    def const(self, value: Any) -> str:
        name = self._name()
        self.initializers.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(self, op_type: str, *inputs: str, out: str | None = None, **attrs: Any) -> str:
        name = out or self._name()
        attrs = {k: numpy_helper.from_array(v) if isinstance(v, np.ndarray) else v for k, v in attrs.items()}
        self.nodes.append(helper.make_node(op_type, list(inputs), [name], **attrs))
        return name


class _TorchNodes:
    """The same builder interface over a torch.onnx symbolic context ``g``."""

    def __init__(self, g: Any) -> None:
        self.g = g

    def const(self, value: Any) -> Any:
        import torch

        return self.g.op("Constant", value_t=torch.from_numpy(np.array(value)))

    def op(self, op_type: str, *inputs: Any, out: str | None = None, **attrs: Any) -> Any:
        import torch

        typed: dict[str, Any] = {}
        for key, value in attrs.items():
            if isinstance(value, np.ndarray):
                typed[f"{key}_t"] = torch.from_numpy(value)
            elif isinstance(value, float):
                typed[f"{key}_f"] = value
            else:
                typed[f"{key}_i"] = value
        return self.g.op(op_type, *inputs, **typed)


def _f32(value: Any) -> np.ndarray:
    return np.asarray(value, dtype=np.float32)


def _i64(value: Any) -> np.ndarray:
    return np.asarray(value, dtype=np.int64)


def _resize_weights(b: Any, length: Any, size: int) -> Any:
    """[size, length] weights of an antialiased linear resize of one axis from ``length`` (int64 [1]) to size.

    Resize-18's (antialias=1, half-pixel, exclude_outside=0) filter as onnxruntime computes it: output i
    centred at c = (i + 0.5) / scale (scale = size / length) takes taps t with weight
    triangle((t + 0.5 - c) * min(scale, 1)), taps outside the axis clamped to its first or last pixel,
    normalised to sum 1.
    """
    f32, i64 = TensorProto.FLOAT, TensorProto.INT64
    length_f = b.op("Cast", length, to=f32)
    scale = b.op("Div", b.const(_f32([size])), length_f)
    shrink = b.op("Min", scale, b.const(_f32([1.0])))
    # Taps reach at most 1 / shrink input pixels from a centre: pad the axis by that (and one) on both sides.
    pad = b.op("Add", b.op("Cast", b.op("Ceil", b.op("Div", b.const(_f32([1.0])), shrink)), to=i64), b.const(_i64([1])))
    padded = b.op("Add", length, b.op("Mul", pad, b.const(_i64([2]))))
    taps = b.op("NonZero", b.op("ConstantOfShape", padded, value=_f32([1.0])))  # [1, n + 2 pad]: 0, 1, ...
    positions = b.op("Sub", b.op("Add", b.op("Cast", taps, to=f32), b.const(_f32([0.5]))), b.op("Cast", pad, to=f32))
    centres = b.op("Div", b.const((np.arange(size, dtype=np.float32) + 0.5).reshape(-1, 1)), scale)
    distance = b.op("Abs", b.op("Sub", positions, centres))
    weights = b.op("Relu", b.op("Sub", b.const(_f32(1.0)), b.op("Mul", distance, shrink)))  # [size, n + 2 pad]
    axis1 = b.const(_i64([1]))
    end = b.op("Add", pad, length)
    inside = b.op("Slice", weights, pad, end, axis1)
    before = b.op("ReduceSum", b.op("Slice", weights, b.const(_i64([0])), pad, axis1), axes=[1], keepdims=1)
    after = b.op("ReduceSum", b.op("Slice", weights, end, b.const(_i64([2**62])), axis1), axes=[1], keepdims=1)
    index = b.op("NonZero", b.op("ConstantOfShape", length, value=_f32([1.0])))  # [1, n]: 0 .. n-1
    first = b.op("Cast", b.op("Equal", index, b.const(_i64([0]))), to=f32)
    last = b.op("Cast", b.op("Equal", index, b.op("Sub", length, b.const(_i64([1])))), to=f32)
    folded = b.op("Add", b.op("Add", inside, b.op("Mul", before, first)), b.op("Mul", after, last))
    return b.op("Div", folded, b.op("ReduceSum", weights, axes=[1], keepdims=1))


def _resize(b: Any, x: Any, height: Any, width: Any, size: tuple[int, int], out: str | None = None) -> Any:
    """x float [N, C, height, width] -> [N, C, size[0], size[1]] (antialiased linear, half-pixel)."""
    rows = _resize_weights(b, height, size[0])
    cols = b.op("Transpose", _resize_weights(b, width, size[1]), perm=[1, 0])
    return b.op("MatMul", b.op("MatMul", rows, x), cols, out=out)


# ---------------------------------------------------------------- classifiers


def preprocess_nodes(
    b: _Nodes, image_size: int, *, input_name: str, output_name: str, framings: Sequence[str] = ("centre",)
) -> None:
    """Opset-10 twin of the composed classifier's pre-processing (``embeddings.preprocess_graph``, once per
    framing, batched): centre square crop or the whole frame, antialiased resize, to [-1, 1]."""
    from training.ml.backbones import MEAN, STD
    from training.ml.embeddings import CROP_FRACTION, check_framing

    hw = b.op("Slice", b.op("Shape", input_name), b.const(_i64([0])), b.const(_i64([2])))
    batch = []
    for framing in framings:
        check_framing(framing)
        if framing == "centre":
            shorter = b.op("Cast", b.op("ReduceMin", hw, keepdims=1), to=TensorProto.FLOAT)
            side_f = b.op("Max", b.op("Floor", b.op("Mul", shorter, b.const(_f32([CROP_FRACTION])))),
                          b.const(_f32([1.0])))
            side = b.op("Cast", side_f, to=TensorProto.INT64)
            starts = b.op("Div", b.op("Sub", hw, side), b.const(_i64([2])))
            crop = b.op("Slice", input_name, starts, b.op("Add", starts, side), b.const(_i64([0, 1])))
            height = width = side
        else:  # "whole"
            crop = input_name
            height = b.op("Slice", hw, b.const(_i64([0])), b.const(_i64([1])))
            width = b.op("Slice", hw, b.const(_i64([1])), b.const(_i64([2])))
        chw = b.op("Transpose", b.op("Cast", crop, to=TensorProto.FLOAT), perm=[2, 0, 1])
        batch.append(_resize(b, b.op("Unsqueeze", chw, axes=[0]), height, width, (image_size, image_size)))
    resized = batch[0] if len(batch) == 1 else b.op("Concat", *batch, axis=0)
    scaled = b.op("Mul", resized, b.const(_f32(1.0 / (255.0 * STD[0]))))
    b.op("Sub", scaled, b.const(_f32(MEAN[0] / STD[0])), out=output_name)


def _fold_constants(graph: onnx.GraphProto, opset: int) -> tuple[list[onnx.NodeProto], dict[str, np.ndarray]]:
    """Evaluate every node whose inputs are all constant; returns the remaining nodes and all constants."""
    from onnx.reference import ReferenceEvaluator

    values = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    kept = []
    for node in graph.node:
        if node.domain not in ("", "ai.onnx") or node.op_type in ("If", "Loop", "Scan"):
            kept.append(node)
            continue
        if all(not name or name in values for name in node.input):
            feeds = {name: values[name] for name in node.input if name}
            results = ReferenceEvaluator(node, opsets={"": opset}).run(None, feeds)
            values.update({o: np.asarray(r) for o, r in zip(node.output, results, strict=True)})
        else:
            kept.append(node)
    return kept, values


def _downgrade_node(node: onnx.NodeProto, opset: int, values: dict[str, np.ndarray]) -> onnx.NodeProto:
    """The node in its form at ``opset`` (same semantics), or OpsetError."""
    op = node.op_type
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    inputs = list(node.input)

    def constant(index: int) -> np.ndarray | None:
        if index >= len(inputs) or not inputs[index]:
            return None
        if inputs[index] not in values:
            raise OpsetError(f"{op} with a computed input {index} has no opset-{opset} form")
        return values[inputs[index]]

    if op in _AXES_INPUT_SINCE and opset < _AXES_INPUT_SINCE[op]:
        axes = constant(1)
        if axes is not None:
            attrs["axes"] = [int(a) for a in axes.reshape(-1)]
        if attrs.pop("noop_with_empty_axes", 0):
            raise OpsetError(f"{op} with noop_with_empty_axes has no opset-{opset} form")
        inputs = inputs[:1]
    elif op == "Clip":
        if opset < 11:  # Clip-6: min and max are attributes
            low, high = constant(1), constant(2)
            attrs.update({"min": float(low)} if low is not None else {})
            attrs.update({"max": float(high)} if high is not None else {})
            inputs = inputs[:1]
    elif op == "Pad":
        if len(inputs) > 3 and inputs[3]:
            raise OpsetError("Pad with axes has no opset-12 form")
        if opset < 11:
            pads, value = constant(1), constant(2)
            attrs["pads"] = [int(p) for p in np.asarray(pads).reshape(-1)]
            attrs["value"] = float(value) if value is not None else 0.0
            inputs = inputs[:1]
        else:
            inputs = inputs[:3]
    elif op in _AXES_INPUT_SINCE:
        pass  # axes already an attribute
    elif op not in _SAME_SINCE or opset < _SAME_SINCE[op]:
        raise OpsetError(f"{op} is not known to have the same meaning at opset {opset}")
    elif op == "Softmax" and opset < 13 and attrs.get("axis", -1) not in (1, -1):
        # Before 13, Softmax flattens to 2-D at ``axis``; on our [N, K] logits with axis 1 that is the same.
        raise OpsetError(f"Softmax over axis {attrs.get('axis')} has no opset-{opset} form")
    elif op == "Reshape" and attrs.pop("allowzero", 0):
        raise OpsetError("Reshape with allowzero has no opset-12 form")
    elif op == "TopK" and opset < 11 and (attrs.pop("largest", 1) != 1 or attrs.pop("sorted", 1) != 1):
        raise OpsetError("TopK of the smallest or unsorted has no opset-10 form")
    return helper.make_node(op, inputs, list(node.output), name=node.name, **attrs)


def classifier_at_opset(
    model: onnx.ModelProto, opset: int, *, image_size: int, framings: Sequence[str] = ("centre",)
) -> onnx.ModelProto:
    """The composed classifier (``artifacts.compose_classifier``) rewritten for ``opset`` (10 or 12).

    The pre-processing (every node up to the trunk's "pixels" input, names starting ``pp_``) is replaced by
    :func:`preprocess_nodes`; the rest is constant-folded and each op re-expressed in its older form.
    """
    if opset not in LEGACY_OPSETS:
        raise OpsetError(f"opset {opset} is not one of {LEGACY_OPSETS}")
    image = model.graph.input[0].name
    trunk = helper.make_graph(
        [n for n in model.graph.node if not any(o.startswith("pp_") or o == "pixels" for o in n.output)],
        "trunk", [], [],
        initializer=[i for i in model.graph.initializer if not i.name.startswith("pp_")],
    )
    nodes, values = _fold_constants(trunk, DEFAULT_OPSET)
    body = [_downgrade_node(node, opset, values) for node in nodes]
    used = {name for node in body for name in node.input}
    pre = _Nodes("pp_legacy_")
    preprocess_nodes(pre, image_size, input_name=image, output_name="pixels", framings=framings)
    graph = helper.make_graph(
        pre.nodes + body,
        model.graph.name,
        list(model.graph.input),
        list(model.graph.output),
        initializer=pre.initializers + [numpy_helper.from_array(v, k) for k, v in values.items() if k in used],
    )
    legacy = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    legacy.ir_version = ir_version_for(opset)
    legacy.producer_name = model.producer_name or "tagsight"
    onnx.checker.check_model(legacy, full_check=True)
    return legacy


# ---------------------------------------------------------------- detectors (torch export)


def register_legacy_symbolics(opset: int) -> None:
    """Let torch export our detector at ``opset``: the antialiased resize as :func:`_resize` and, below 11
    (torchvision registers its ``nms`` from 11 on), NMS as NonMaxSuppression-10."""
    from torch.onnx import register_custom_op_symbolic  # type: ignore[attr-defined]

    register_custom_op_symbolic("aten::_upsample_bilinear2d_aa", _legacy_resize_symbolic, opset)
    if opset < 11:
        register_custom_op_symbolic("torchvision::nms", _nms10_symbolic, opset)


def _legacy_resize_symbolic(g: Any, x: Any, output_size: Any, align_corners: Any, scale_factors: Any) -> Any:
    from torch.onnx import symbolic_helper

    size = symbolic_helper._get_const(output_size, "is", "output_size")  # type: ignore[no-untyped-call]
    b = _TorchNodes(g)
    shape = b.op("Shape", x)
    height = b.op("Slice", shape, b.const(_i64([2])), b.const(_i64([3])))
    width = b.op("Slice", shape, b.const(_i64([3])), b.const(_i64([4])))
    return _resize(b, x, height, width, (int(size[0]), int(size[1])))


def _nms10_symbolic(g: Any, boxes: Any, scores: Any, iou_threshold: Any) -> Any:
    """torchvision.ops.nms as NonMaxSuppression-10 (torchvision's own symbolic, with opset-10 Unsqueeze)."""
    from torch.onnx import symbolic_helper

    iou = symbolic_helper._get_const(iou_threshold, "f", "iou_threshold")  # type: ignore[no-untyped-call]
    b = _TorchNodes(g)
    selected = b.op(
        "NonMaxSuppression",
        b.op("Unsqueeze", b.op("Cast", boxes, to=TensorProto.FLOAT), axes=[0]),
        b.op("Unsqueeze", b.op("Cast", scores, to=TensorProto.FLOAT), axes=[0, 1]),
        b.const(_i64([2**63 - 1])),
        b.const(_f32([iou])),
    )  # [n, 3]: (batch, class, box index)
    index = b.op("Slice", selected, b.const(_i64([2])), b.const(_i64([3])), b.const(_i64([1])))
    return b.op("Squeeze", index, axes=[1])
