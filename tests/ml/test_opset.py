"""Older-opset graphs (Azure's ONNX10 / ONNX12 export flavors): the antialiased resize built from opset-10 ops
computes what onnxruntime's Resize-18 (antialias=1) computes, on every shape (down, up, odd, one pixel)."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from training.ml.opset import _i64, _Nodes, _resize, ir_version_for

SIZE = (64, 48)


def _session(legacy_opset: int | None) -> ort.InferenceSession:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, None, None])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, *SIZE])
    if legacy_opset is None:
        node = helper.make_node("Resize", ["x", "", "", "sizes"], ["y"], mode="linear",
                                coordinate_transformation_mode="half_pixel", antialias=1)
        sizes = helper.make_tensor("sizes", TensorProto.INT64, [4], [1, 3, *SIZE])
        graph = helper.make_graph([node], "resize18", [x], [y], initializer=[sizes])
        opset = 18
    else:
        b = _Nodes("n")
        shape = b.op("Shape", "x")
        height = b.op("Slice", shape, b.const(_i64([2])), b.const(_i64([3])))
        width = b.op("Slice", shape, b.const(_i64([3])), b.const(_i64([4])))
        _resize(b, "x", height, width, SIZE, out="y")
        graph = helper.make_graph(b.nodes, "resize_legacy", [x], [y], initializer=b.initializers)
        opset = legacy_opset
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = ir_version_for(opset)
    onnx.checker.check_model(model, full_check=True)
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("opset", [10, 12])
def test_matmul_resize_is_resize18_antialias(opset: int) -> None:
    reference, legacy = _session(None), _session(opset)
    rng = np.random.default_rng(0)
    for shape in [(300, 401), (64, 48), (63, 49), (20, 13), (1, 1), (1, 200), (500, 3)]:
        x = (rng.random((1, 3, *shape)) * 255).astype(np.float32)
        (want,), (got,) = reference.run(None, {"x": x}), legacy.run(None, {"x": x})
        assert got.shape == want.shape == (1, 3, *SIZE)
        assert np.abs(got - want).max() < 2e-3, shape  # of 255: float rounding only
