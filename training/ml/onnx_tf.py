"""An ONNX graph computed with TensorFlow ops: the TensorFlow export's converter (training.ml.export_tf).

:func:`onnx_to_tf` maps each node of our opset-12 graphs (the ONNX12 flavor's: the antialiased resize as two
MatMuls, box decoding, NonZero, TopK, If and NMS for detectors) to one or a few TensorFlow ops, with the
semantics onnxruntime gives them (the export's parity report checks it):

* ONNX's NCHW convolutions run as TensorFlow's NHWC ones; a tensor stays NHWC from a Conv on through
  element-wise ops, padding and pooling, and is turned back only where an op needs ONNX's layout;
* nodes whose inputs are all constants are folded at conversion time by onnx's reference evaluator;
* int64 indices are int32 (TFLite's kernels are int32), NMS is the padded NonMaxSuppressionV4 sliced to its
  valid count (TFLite's kernel answers the padded form), If is tf.cond;
* a node it does not know raises NotImplementedError naming it: never guessed.

TensorFlow is passed in (``tf``), never imported here: only the export's child process loads it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

TF_OPSET = 12  # the ONNX12 flavor's graph (resize as MatMuls, no antialiased Resize)
_INT32_MAX = 2**31 - 1


def onnx_to_tf(model: Any, tf: Any) -> tuple[Callable[..., Any], list[str]]:
    """A function computing ``model``'s graph (one uint8 input) with TensorFlow ops, and its output names.

    Raises:
        NotImplementedError: a node this mapping does not know (never guessed).
    """
    from onnx import numpy_helper

    graph = model.graph
    constants = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    outputs = [o.name for o in graph.output]
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), TF_OPSET)

    def fn(image: Any) -> dict[str, Any]:
        values: dict[str, _Value] = {graph.input[0].name: _Value(image)}
        _run_graph(graph, values, constants, tf, opset)
        return {name: values[name].onnx(tf) for name in outputs}

    return fn, outputs


class _Value:
    """A tensor, whether it holds ONNX's NCHW tensor as NHWC (``nhwc``), and its value when it is a constant
    (``array``, numpy in ONNX's types: folded at conversion time; its tensor is made only when an op uses it, so
    weights that a Conv re-lays out are not also kept in the SavedModel as they were)."""

    def __init__(self, tensor: Any, nhwc: bool = False, array: np.ndarray | None = None, tf: Any = None) -> None:
        self._tensor = tensor
        self.nhwc = nhwc
        self.array = array
        self._tf = tf

    @property
    def tensor(self) -> Any:
        if self._tensor is None:
            self._tensor = _tf_constant(np.asarray(self.array), self._tf)
        return self._tensor

    def onnx(self, tf: Any) -> Any:
        return tf.transpose(self.tensor, [0, 3, 1, 2]) if self.nhwc else self.tensor


_DTYPES = {1: "float32", 2: "uint8", 6: "int32", 7: "int32", 9: "bool", 11: "float64"}  # int64 -> int32


def _tf_constant(array: np.ndarray, tf: Any) -> Any:
    if array.dtype == np.int64:
        array = np.clip(array, -_INT32_MAX - 1, _INT32_MAX).astype(np.int32)
    return tf.constant(array)


def _constant(array: np.ndarray, tf: Any) -> _Value:
    return _Value(None, array=np.asarray(array), tf=tf)


def _fold(node: Any, ins: list[_Value | None], opset: int) -> list[np.ndarray] | None:
    """The node's outputs computed by onnx's reference evaluator when all its inputs are constants."""
    from onnx.reference import ReferenceEvaluator

    if node.op_type in ("If", "Loop", "Scan") or any(v is not None and v.array is None for v in ins):
        return None
    from onnx import helper

    feeds = {name: v.array for name, v in zip(node.input, ins, strict=True) if v is not None}
    # As a one-node model: the evaluator reads the opset (Unsqueeze's axes attribute or input) from the model.
    graph = helper.make_graph([node], "fold", [helper.make_empty_tensor_value_info(n) for n in feeds],
                              [helper.make_empty_tensor_value_info(n) for n in node.output])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    return [np.asarray(r) for r in ReferenceEvaluator(model).run(None, feeds)]


def _run_graph(graph: Any, values: dict[str, _Value], constants: dict[str, np.ndarray], tf: Any, opset: int) -> None:
    from onnx import helper, numpy_helper

    for node in graph.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type == "Constant":
            values[node.output[0]] = _constant(numpy_helper.to_array(attrs["value"]), tf)
            continue
        ins: list[_Value | None] = []
        for name in node.input:
            if not name:
                ins.append(None)
            elif name in values:
                ins.append(values[name])
            else:
                values[name] = _constant(constants[name], tf)
                ins.append(values[name])
        folded = _fold(node, ins, opset)
        if folded is not None:
            values.update({name: _constant(a, tf) for name, a in zip(node.output, folded, strict=True)})
            continue
        if node.op_type == "If":
            then_graph, else_graph = attrs["then_branch"], attrs["else_branch"]

            def branch(sub: Any) -> Callable[[], list[Any]]:
                def run() -> list[Any]:
                    scope = dict(values)
                    _run_graph(sub, scope, constants, tf, opset)
                    return [scope[o.name].onnx(tf) for o in sub.output]
                return run

            cond = tf.reshape(ins[0].onnx(tf), [])  # type: ignore[union-attr]
            results = tf.cond(cond, branch(then_graph), branch(else_graph))
            results = results if isinstance(results, list | tuple) else [results]
            outs = [_Value(r) for r in results]
        else:
            op = _OPS.get(node.op_type)
            if op is None:
                raise NotImplementedError(f"ONNX op {node.op_type} has no TensorFlow mapping here")
            result = op(tf, ins, attrs)
            outs = result if isinstance(result, list) else [result]
        for name, value in zip(node.output, outs, strict=False):
            values[name] = value


def _plain(tf: Any, ins: list[_Value | None]) -> list[Any]:
    return [None if v is None else v.onnx(tf) for v in ins]


def _const(v: _Value | None) -> np.ndarray | None:
    """The value as numpy when it is a constant, else None."""
    return None if v is None else v.array


def _unary(name: str) -> Callable[..., _Value]:
    def op(tf: Any, ins: list[_Value], attrs: dict[str, Any]) -> _Value:
        fn = {"Relu": tf.nn.relu, "Sigmoid": tf.math.sigmoid, "Exp": tf.math.exp, "Log": tf.math.log,
              "Abs": tf.math.abs, "Neg": tf.math.negative, "Floor": tf.math.floor, "Ceil": tf.math.ceil,
              "Sqrt": tf.math.sqrt, "Not": tf.math.logical_not, "Identity": tf.identity}[name]
        return _Value(fn(ins[0].tensor), ins[0].nhwc)
    return op


def _to_nhwc_operand(tf: Any, v: _Value) -> Any | None:
    """``v`` in NHWC when that is free (already NHWC, a scalar, or a constant that broadcasts), else None."""
    if v.nhwc:
        return v.tensor
    array = _const(v)
    if array is None or array.ndim > 4:
        return None
    if array.size == 1:
        return tf.constant(array.reshape(()))
    return tf.constant(np.transpose(array.reshape((1,) * (4 - array.ndim) + array.shape), (0, 2, 3, 1)))


def _truncated_division(tf: Any) -> Callable[[Any, Any], Any]:
    """Integer division rounding towards zero from floor division (TFLite has FLOOR_DIV, not TruncateDiv)."""
    def divide(a: Any, b: Any) -> Any:
        sign = tf.math.sign(a) * tf.math.sign(b)
        return sign * tf.math.floordiv(tf.math.abs(a), tf.math.abs(b))
    return divide


def _binary(name: str) -> Callable[..., _Value]:
    def op(tf: Any, ins: list[_Value], attrs: dict[str, Any]) -> _Value:
        a, b = ins
        if name == "Div" and a.tensor.dtype.is_integer:
            fn: Any = _truncated_division(tf)  # ONNX integer Div truncates
        elif name == "Mod":
            if attrs.get("fmod", 0):
                raise NotImplementedError("Mod with fmod=1")
            fn = tf.math.floormod  # fmod=0: the result takes the divisor's sign
        else:
            fn = {"Add": tf.math.add, "Sub": tf.math.subtract, "Mul": tf.math.multiply, "Div": tf.math.divide,
                  "Equal": tf.math.equal, "Less": tf.math.less, "Greater": tf.math.greater,
                  "And": tf.math.logical_and, "Or": tf.math.logical_or, "Xor": tf.math.logical_xor,
                  "Min": tf.math.minimum, "Max": tf.math.maximum, "Pow": tf.math.pow}[name]
        if a.nhwc or b.nhwc:
            x, y = _to_nhwc_operand(tf, a), _to_nhwc_operand(tf, b)
            if x is not None and y is not None:
                return _Value(fn(x, y), True)
        x, y = _plain(tf, [a, b])
        return _Value(fn(x, y))
    return op


def _conv(tf: Any, ins: list[_Value | None], attrs: dict[str, Any]) -> _Value:
    x_value, w_value, b_value = (ins + [None])[:3]
    assert x_value is not None and w_value is not None
    w = _const(w_value)
    if w is None or w.ndim != 4:
        raise NotImplementedError("Conv with computed or non-2-D weights")
    x = x_value.tensor if x_value.nhwc else tf.transpose(x_value.tensor, [0, 2, 3, 1])
    out_channels, per_group, kh, kw = w.shape
    group = int(attrs.get("group", 1))
    t, left, bottom, right = attrs.get("pads", [0, 0, 0, 0])
    if attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        raise NotImplementedError("Conv with auto_pad")
    if t or left or bottom or right:
        x = tf.pad(x, [[0, 0], [t, bottom], [left, right], [0, 0]])
    strides = [1, *attrs.get("strides", [1, 1]), 1]
    dilations = list(attrs.get("dilations", [1, 1]))
    if group == 1:
        y = tf.nn.conv2d(x, tf.constant(np.transpose(w, (2, 3, 1, 0))), strides, "VALID", dilations=dilations)
    elif per_group == 1 and out_channels % group == 0:  # depthwise (channel multiplier out / in)
        kernel = np.transpose(w.reshape(group, out_channels // group, kh, kw), (2, 3, 0, 1))
        y = tf.nn.depthwise_conv2d(x, tf.constant(kernel), strides, "VALID", dilations=dilations)
    else:
        raise NotImplementedError(f"grouped Conv with {group} groups of {per_group} channels")
    bias = _const(b_value)
    if bias is not None:
        y = tf.nn.bias_add(y, tf.constant(bias))
    return _Value(y, True)


def _clip(tf: Any, ins: list[_Value | None], attrs: dict[str, Any]) -> _Value:
    x = ins[0]
    assert x is not None
    low = ins[1].tensor if len(ins) > 1 and ins[1] is not None else attrs.get("min")
    high = ins[2].tensor if len(ins) > 2 and ins[2] is not None else attrs.get("max")
    y = x.tensor
    if low is not None:
        y = tf.math.maximum(y, tf.cast(low, y.dtype))
    if high is not None:
        y = tf.math.minimum(y, tf.cast(high, y.dtype))
    return _Value(y, x.nhwc)


def _pad(tf: Any, ins: list[_Value | None], attrs: dict[str, Any]) -> _Value:
    x = ins[0]
    assert x is not None
    if attrs.get("mode", b"constant") not in (b"constant", "constant"):
        raise NotImplementedError(f"Pad mode {attrs['mode']!r}")
    pads = _const(ins[1]) if len(ins) > 1 else np.asarray(attrs["pads"])
    if pads is None:
        raise NotImplementedError("Pad with computed pads")
    value = _const(ins[2]) if len(ins) > 2 and ins[2] is not None else np.asarray(attrs.get("value", 0.0))
    rank = len(pads) // 2
    pairs = [[int(pads[i]), int(pads[i + rank])] for i in range(rank)]
    if x.nhwc:
        pairs = [pairs[0], pairs[2], pairs[3], pairs[1]]
    fill = tf.cast(tf.constant(np.asarray(value).reshape(())), x.tensor.dtype)
    return _Value(tf.pad(x.tensor, pairs, constant_values=fill), x.nhwc)


def _global_average_pool(tf: Any, ins: list[_Value], attrs: dict[str, Any]) -> _Value:
    x = ins[0]
    if x.nhwc:
        return _Value(tf.math.reduce_mean(x.tensor, axis=[1, 2], keepdims=True), True)
    return _Value(tf.math.reduce_mean(x.tensor, axis=[2, 3], keepdims=True))


def _shape(tf: Any, ins: list[_Value], attrs: dict[str, Any]) -> _Value:
    shape = tf.shape(ins[0].tensor, out_type=tf.int32)
    return _Value(tf.gather(shape, [0, 3, 1, 2]) if ins[0].nhwc else shape)


def _reduce(name: str) -> Callable[..., _Value]:
    def op(tf: Any, ins: list[_Value | None], attrs: dict[str, Any]) -> _Value:
        fn = {"ReduceMin": tf.math.reduce_min, "ReduceMax": tf.math.reduce_max, "ReduceSum": tf.math.reduce_sum,
              "ReduceProd": tf.math.reduce_prod, "ReduceMean": tf.math.reduce_mean}[name]
        x = _plain(tf, ins[:1])[0]
        axes = attrs.get("axes")
        if axes is None and len(ins) > 1:
            axes = _const(ins[1])
        keep = bool(attrs.get("keepdims", 1))
        return _Value(fn(x, axis=None if axes is None else [int(a) for a in np.asarray(axes).reshape(-1)],
                         keepdims=keep))
    return op


def _cast(tf: Any, ins: list[_Value], attrs: dict[str, Any]) -> _Value:
    dtype = _DTYPES.get(int(attrs["to"]))
    if dtype is None:
        raise NotImplementedError(f"Cast to ONNX type {attrs['to']}")
    return _Value(tf.cast(ins[0].tensor, dtype), ins[0].nhwc)


def _slice(tf: Any, ins: list[_Value | None], attrs: dict[str, Any]) -> _Value:
    x, starts, ends = _plain(tf, ins[:3])
    given_axes = _const(ins[3]) if len(ins) > 3 and ins[3] is not None else None
    given_steps = _const(ins[4]) if len(ins) > 4 and ins[4] is not None else None
    if (len(ins) > 3 and ins[3] is not None and given_axes is None) or (
            len(ins) > 4 and ins[4] is not None and given_steps is None):
        raise NotImplementedError("Slice with computed axes or steps")
    count = int(starts.shape[0])
    rank = len(x.shape)
    axes = [int(a) % rank for a in (np.arange(count) if given_axes is None else given_axes.reshape(-1))]
    steps = np.ones(count, np.int64) if given_steps is None else given_steps.reshape(-1)
    begin, end, stride = [tf.constant(0)] * rank, [tf.constant(0)] * rank, [1] * rank
    mask = (1 << rank) - 1
    for i, axis in enumerate(axes):
        begin[axis] = tf.cast(starts[i], tf.int32)
        end[axis] = tf.cast(ends[i], tf.int32)
        stride[axis] = int(steps[i])
        mask &= ~(1 << axis)
    dim = tf.shape(x, out_type=tf.int32)
    # ONNX clamps starts / ends into the axis (after adding its length to negatives); TF's strided slice
    # clamps only ends, so clamp both here.
    for axis in axes:
        if stride[axis] <= 0:
            raise NotImplementedError("Slice with a negative step")
        for bound in (begin, end):
            index = bound[axis]
            bound[axis] = tf.clip_by_value(tf.where(index < 0, index + dim[axis], index), 0, dim[axis])
    return _Value(tf.strided_slice(x, tf.stack(begin), tf.stack(end), stride, begin_mask=mask, end_mask=mask))


def _unsqueeze(tf: Any, ins: list[_Value | None], attrs: dict[str, Any]) -> _Value:
    x = _plain(tf, ins[:1])[0]
    given = attrs.get("axes")
    if given is None:
        given = _const(ins[1])
    if given is None:
        raise NotImplementedError("Unsqueeze with computed axes")
    axes = [int(a) for a in np.asarray(given).reshape(-1)]
    rank = len(x.shape) + len(axes)
    for axis in sorted(a % rank for a in axes):
        x = tf.expand_dims(x, axis)
    return _Value(x)


def _squeeze(tf: Any, ins: list[_Value | None], attrs: dict[str, Any]) -> _Value:
    x = _plain(tf, ins[:1])[0]
    axes = attrs.get("axes")
    if axes is None and len(ins) > 1 and ins[1] is not None:
        axes = _const(ins[1])
    if axes is None:
        return _Value(tf.squeeze(x))
    return _Value(tf.squeeze(x, axis=[int(a) % len(x.shape) for a in np.asarray(axes).reshape(-1)]))


def _transpose(tf: Any, ins: list[_Value], attrs: dict[str, Any]) -> _Value:
    x = ins[0]
    perm = list(attrs.get("perm", range(len(x.tensor.shape) - 1, -1, -1)))
    if x.nhwc and perm == [0, 2, 3, 1]:
        return _Value(x.tensor)  # already that layout
    return _Value(tf.transpose(x.onnx(tf), perm))


def _reshape(tf: Any, ins: list[_Value | None], attrs: dict[str, Any]) -> _Value:
    x, shape = _plain(tf, ins[:2])
    if attrs.get("allowzero", 0):
        raise NotImplementedError("Reshape with allowzero")
    known = _const(ins[1])
    if known is not None:
        dims = tf.shape(x, out_type=tf.int32)
        target = [dims[i] if int(d) == 0 else int(d) for i, d in enumerate(known.reshape(-1))]
        return _Value(tf.reshape(x, tf.stack(target) if any(not isinstance(t, int) for t in target) else target))
    count = int(shape.shape[0])
    dims = tf.concat([tf.shape(x, out_type=tf.int32), tf.ones([count], tf.int32)], 0)[:count]  # 0 copies a dim
    shape = tf.cast(shape, tf.int32)
    return _Value(tf.reshape(x, tf.where(tf.equal(shape, 0), dims, shape)))


def _flatten(tf: Any, ins: list[_Value], attrs: dict[str, Any]) -> _Value:
    x = ins[0].onnx(tf)
    axis = int(attrs.get("axis", 1)) % max(len(x.shape), 1)
    dims = tf.shape(x, out_type=tf.int32)
    return _Value(tf.reshape(x, tf.stack([tf.reduce_prod(dims[:axis]), -1])))


def _concat(tf: Any, ins: list[_Value], attrs: dict[str, Any]) -> _Value:
    return _Value(tf.concat(_plain(tf, list(ins)), axis=int(attrs["axis"])))


def _gather(tf: Any, ins: list[_Value | None], attrs: dict[str, Any]) -> _Value:
    data, indices = _plain(tf, ins[:2])
    axis = int(attrs.get("axis", 0)) % len(data.shape)
    indices = tf.cast(indices, tf.int32)
    indices = tf.where(indices < 0, indices + tf.shape(data, out_type=tf.int32)[axis], indices)
    return _Value(tf.gather(data, indices, axis=axis))


def _gather_nd(tf: Any, ins: list[_Value | None], attrs: dict[str, Any]) -> _Value:
    if attrs.get("batch_dims", 0):
        raise NotImplementedError("GatherND with batch_dims")
    data, indices = _plain(tf, ins[:2])
    return _Value(tf.gather_nd(data, tf.cast(indices, tf.int32)))


def _constant_of_shape(tf: Any, ins: list[_Value], attrs: dict[str, Any]) -> _Value:
    from onnx import numpy_helper

    value = numpy_helper.to_array(attrs["value"]) if "value" in attrs else np.zeros(1, np.float32)
    fill = _tf_constant(value.reshape(()), tf)
    return _Value(tf.fill(tf.cast(ins[0].onnx(tf), tf.int32), fill))


def _non_zero(tf: Any, ins: list[_Value], attrs: dict[str, Any]) -> _Value:
    return _Value(tf.transpose(tf.cast(tf.where(tf.cast(ins[0].onnx(tf), tf.bool)), tf.int32)))


def _where(tf: Any, ins: list[_Value | None], attrs: dict[str, Any]) -> _Value:
    cond, x, y = _plain(tf, ins[:3])
    return _Value(tf.where(cond, x, y))


def _matmul(tf: Any, ins: list[_Value | None], attrs: dict[str, Any]) -> _Value:
    a, b = _plain(tf, ins[:2])
    if len(a.shape) < 2 or len(b.shape) < 2:
        raise NotImplementedError("MatMul of vectors")
    if len(a.shape) != len(b.shape):  # broadcast the matrix over the other's batch dimensions
        if len(a.shape) < len(b.shape):
            a = tf.broadcast_to(a, tf.concat([tf.shape(b)[:-2], tf.shape(a)[-2:]], 0))
        else:
            b = tf.broadcast_to(b, tf.concat([tf.shape(a)[:-2], tf.shape(b)[-2:]], 0))
    return _Value(tf.linalg.matmul(a, b))


def _gemm(tf: Any, ins: list[_Value | None], attrs: dict[str, Any]) -> _Value:
    a, b, c = (_plain(tf, ins) + [None])[:3]
    y = tf.linalg.matmul(a, b, transpose_a=bool(attrs.get("transA", 0)), transpose_b=bool(attrs.get("transB", 0)))
    y = y * float(attrs.get("alpha", 1.0))
    if c is not None:
        y = y + float(attrs.get("beta", 1.0)) * c
    return _Value(y)


def _softmax(tf: Any, ins: list[_Value], attrs: dict[str, Any]) -> _Value:
    x = ins[0].onnx(tf)
    axis = int(attrs.get("axis", 1)) % len(x.shape)
    if axis != len(x.shape) - 1:
        raise NotImplementedError("Softmax over an axis other than the last")
    return _Value(tf.nn.softmax(x, axis=-1))


def _instance_norm(tf: Any, ins: list[_Value | None], attrs: dict[str, Any]) -> _Value:
    x, scale, bias = _plain(tf, ins[:3])
    axes = list(range(2, len(x.shape)))
    mean = tf.math.reduce_mean(x, axis=axes, keepdims=True)
    variance = tf.math.reduce_mean(tf.math.square(x - mean), axis=axes, keepdims=True)
    shape = [1, -1] + [1] * len(axes)
    y = (x - mean) / tf.math.sqrt(variance + float(attrs.get("epsilon", 1e-5)))
    return _Value(y * tf.reshape(scale, shape) + tf.reshape(bias, shape))


def _resize(tf: Any, ins: list[_Value | None], attrs: dict[str, Any]) -> _Value:
    """Nearest-neighbour Resize (asymmetric, floor), as the FPN's upsampling exports: two gathers."""
    x = ins[0]
    assert x is not None
    mode = attrs.get("mode", b"nearest")
    if mode not in (b"nearest", "nearest") or attrs.get("coordinate_transformation_mode") not in (
            b"asymmetric", "asymmetric") or attrs.get("nearest_mode", b"round_prefer_floor") not in (b"floor", "floor"):
        raise NotImplementedError(f"Resize {attrs}")
    sizes = _plain(tf, ins[3:4])[0] if len(ins) > 3 and ins[3] is not None else None
    data = x.tensor if x.nhwc else tf.transpose(x.tensor, [0, 2, 3, 1])
    shape = tf.shape(data, out_type=tf.int32)
    if sizes is None:
        scales = tf.cast(_plain(tf, ins[2:3])[0], tf.float32)
        out_h = tf.cast(tf.math.floor(tf.cast(shape[1], tf.float32) * scales[2]), tf.int32)
        out_w = tf.cast(tf.math.floor(tf.cast(shape[2], tf.float32) * scales[3]), tf.int32)
    else:
        out_h, out_w = tf.cast(sizes[2], tf.int32), tf.cast(sizes[3], tf.int32)
    for axis, (length, out) in enumerate(((shape[1], out_h), (shape[2], out_w)), start=1):
        scale = tf.cast(out, tf.float32) / tf.cast(length, tf.float32)
        index = tf.cast(tf.math.floor(tf.cast(tf.range(out), tf.float32) / scale), tf.int32)
        data = tf.gather(data, tf.minimum(index, length - 1), axis=axis)
    return _Value(data, True)


def _top_k(tf: Any, ins: list[_Value | None], attrs: dict[str, Any]) -> list[_Value]:
    x, k = _plain(tf, ins[:2])
    if int(attrs.get("axis", -1)) % len(x.shape) != len(x.shape) - 1 or not attrs.get("largest", 1):
        raise NotImplementedError("TopK other than the largest along the last axis")
    values, indices = tf.math.top_k(x, k=tf.reshape(tf.cast(k, tf.int32), []), sorted=True)
    return [_Value(values), _Value(indices)]


def _nms(tf: Any, ins: list[_Value | None], attrs: dict[str, Any]) -> _Value:
    """NonMaxSuppression for one batch and one class (torchvision's batched NMS offsets boxes per class)."""
    if attrs.get("center_point_box", 0):
        raise NotImplementedError("NonMaxSuppression with center_point_box")
    boxes, scores, limit, iou, threshold = (_plain(tf, ins) + [None] * 5)[:5]
    boxes, scores = boxes[0], scores[0, 0]
    count = tf.shape(scores, out_type=tf.int32)[0]
    limit = count if limit is None else tf.minimum(tf.reshape(tf.cast(limit, tf.int32), []), count)
    # Padded NMS and an explicit slice to the valid count: TFLite's NMS kernel always answers the padded form.
    padded, valid = tf.raw_ops.NonMaxSuppressionV4(
        boxes=boxes, scores=scores, max_output_size=limit,
        iou_threshold=tf.reshape(iou, []) if iou is not None else tf.constant(0.0),
        score_threshold=tf.reshape(threshold, []) if threshold is not None else tf.constant(float("-inf")),
        pad_to_max_output_size=True,
    )
    kept = padded[:valid]
    zeros = tf.zeros_like(kept)
    return _Value(tf.stack([zeros, zeros, tf.cast(kept, tf.int32)], axis=1))


_OPS: dict[str, Callable[..., Any]] = {
    **{name: _unary(name) for name in ("Relu", "Sigmoid", "Exp", "Log", "Abs", "Neg", "Floor", "Ceil", "Sqrt",
                                       "Not", "Identity")},
    **{name: _binary(name) for name in ("Add", "Sub", "Mul", "Div", "Equal", "Less", "Greater", "And", "Or", "Xor",
                                        "Min", "Max", "Pow", "Mod")},
    **{name: _reduce(name) for name in ("ReduceMin", "ReduceMax", "ReduceSum", "ReduceProd", "ReduceMean")},
    "Conv": _conv, "Clip": _clip, "Pad": _pad, "GlobalAveragePool": _global_average_pool, "Shape": _shape,
    "Cast": _cast, "Slice": _slice, "Unsqueeze": _unsqueeze, "Squeeze": _squeeze, "Transpose": _transpose,
    "Reshape": _reshape, "Flatten": _flatten, "Concat": _concat, "Gather": _gather, "GatherND": _gather_nd,
    "ConstantOfShape": _constant_of_shape, "NonZero": _non_zero, "Where": _where, "MatMul": _matmul, "Gemm": _gemm,
    "Softmax": _softmax, "InstanceNormalization": _instance_norm, "Resize": _resize, "TopK": _top_k,
    "NonMaxSuppression": _nms,
}
