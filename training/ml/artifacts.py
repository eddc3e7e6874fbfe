"""Trained-model artifacts: a folder with one ONNX graph (pre-processing inside) and metadata.

Layout of ``<workdir>/model/``::

    model.onnx      uint8 image [H, W, 3] RGB -> probabilities [1, K] (classification)
    metadata.json   task, tags, backbone, image_size, multilabel, mode, input spec, ...
    labels.txt      one tag per line, in output order
    metrics.json    the evaluation metrics of the run that produced it

The detection package writes the same ``metadata.json`` keys (``task`` = "detection") and its
own files; :func:`read_metadata` is what ``Predictor.load`` dispatches on. Reading an artifact needs neither onnx
nor torch (the web tier's Predictor); writing one imports them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import onnx

logger = logging.getLogger(__name__)

MODEL_FILE = "model.onnx"
METADATA_FILE = "metadata.json"
LABELS_FILE = "labels.txt"
METRICS_FILE = "metrics.json"
FORMAT_VERSION = 1


def artifact_dir(path: str | Path) -> Path:
    """The artifact folder for a folder path or a file inside it."""
    p = Path(path)
    return p if p.is_dir() else p.parent


def read_metadata(path: str | Path) -> dict[str, Any]:
    """Metadata of an artifact (folder or any file in it).

    Raises:
        FileNotFoundError: no metadata.json there.
    """
    data: dict[str, Any] = json.loads((artifact_dir(path) / METADATA_FILE).read_text())
    return data


def write_artifact(
    out_dir: str | Path, *, model: onnx.ModelProto, metadata: dict[str, Any], metrics: dict[str, Any] | None = None
) -> Path:
    """Write model.onnx, metadata.json, labels.txt (and metrics.json); returns the folder."""
    import onnx

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(out / MODEL_FILE))
    meta = {"format_version": FORMAT_VERSION, **metadata}
    (out / METADATA_FILE).write_text(json.dumps(meta, indent=1))
    (out / LABELS_FILE).write_text("".join(f"{t}\n" for t in metadata["tags"]))
    if metrics is not None:
        (out / METRICS_FILE).write_text(json.dumps(metrics))
    return out


def compose_classifier(
    trunk_file: str | Path,
    *,
    image_size: int,
    weight: np.ndarray,
    bias: np.ndarray,
    multilabel: bool,
    framings: Sequence[str] = ("centre",),
) -> onnx.ModelProto:
    """One graph: uint8 [H, W, 3] -> pre-processing -> trunk -> linear head -> softmax/sigmoid.

    Args:
        trunk_file: ONNX trunk (input "pixels" [N, 3, S, S], output "embedding" [N, F]).
        image_size: S.
        weight: (F, K) head weights acting on raw embeddings.
        bias: (K,) head bias.
        multilabel: sigmoid outputs instead of softmax.
        framings: how the image is framed (``embeddings.FRAMINGS``); with more than one, the trunk runs on
            each framing as one batch and the head reads the mean of their embeddings.

    Returns:
        The composed model (opset 18; input "image", outputs "probabilities" [1, K] and "embedding").
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from training.ml.embeddings import PREPROCESS_OPSET, preprocess_graph

    trunk = onnx.load(str(trunk_file))
    if len(framings) == 1:
        pre = preprocess_graph(image_size, framing=framings[0], input_name="image", output_name="pixels")
        pre_nodes, pre_inits = list(pre.node), list(pre.initializer)
        trunk_nodes = list(trunk.graph.node)
    else:
        pre_nodes, pre_inits = [], []
        for framing in framings:
            pre = preprocess_graph(image_size, framing=framing, input_name="image",
                                   output_name=f"pp_{framing}_pixels", prefix=f"pp_{framing}_")
            pre_nodes += pre.node
            pre_inits += pre.initializer
        pre_nodes.append(helper.make_node("Concat", [f"pp_{f}_pixels" for f in framings], ["pixels"], axis=0))
        trunk_nodes = []
        for node in trunk.graph.node:
            renamed = onnx.NodeProto()
            renamed.CopyFrom(node)
            renamed.output[:] = ["framing_embeddings" if o == "embedding" else o for o in node.output]
            trunk_nodes.append(renamed)
        trunk_nodes.append(helper.make_node("ReduceMean", ["framing_embeddings", "framing_axis"], ["embedding"],
                                            keepdims=1))
        pre_inits.append(numpy_helper.from_array(np.array([0], dtype=np.int64), "framing_axis"))
    k = int(weight.shape[1])
    head_nodes = [
        helper.make_node("MatMul", ["embedding", "head_weight"], ["head_mm"]),
        helper.make_node("Add", ["head_mm", "head_bias"], ["logits"]),
        (
            helper.make_node("Sigmoid", ["logits"], ["probabilities"])
            if multilabel
            else helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1)
        ),
    ]
    inits = pre_inits + list(trunk.graph.initializer) + [
        numpy_helper.from_array(np.asarray(weight, dtype=np.float32), "head_weight"),
        numpy_helper.from_array(np.asarray(bias, dtype=np.float32), "head_bias"),
    ]
    graph = helper.make_graph(
        pre_nodes + trunk_nodes + head_nodes,
        "tagsight_classifier",
        [helper.make_tensor_value_info("image", TensorProto.UINT8, ["height", "width", 3])],
        [
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [1, k]),
            helper.make_tensor_value_info("embedding", TensorProto.FLOAT, [1, None]),
        ],
        initializer=inits,
    )
    # The trunk is exported at opset 17; its ops (Conv, Clip, Add, Pad, GlobalAveragePool, GeM's Mul and Pow) have
    # the same semantics at 18, which Resize's antialias attribute needs.
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", PREPROCESS_OPSET)])
    model.ir_version = 8
    model.producer_name = "tagsight"
    onnx.checker.check_model(model)
    return model
