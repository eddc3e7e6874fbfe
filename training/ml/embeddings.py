"""Fast embeddings: the backbone trunk in onnxruntime, cached by image content hash.

One ONNX graph per (backbone, image size) is exported once (opset 17, classic exporter) into
``<cache_dir>/trunks``. Pre-processing is a second tiny ONNX graph (uint8 HxWx3 -> antialiased
bilinear resize -> [-1, 1] NCHW) so training, the Predictor and every export resize pixels with
exactly the same code. The embedding of each augmented view of an image is stored under
``<cache_dir>/embeddings/<backbone>-<size>-v<version>-d<draft>/view-<view>/<sha[:2]>/<sha>.f32`` so retraining
only embeds new images. Whole images are decoded for embedding by :meth:`Embedder.load` (JPEG draft factor
``images.CLASSIFIER_DRAFT_FACTOR``, recorded in every classifier's metadata).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper

from training.ml.backbones import MEAN, STD, check_pooling, create_backbone, get_spec
from training.ml.images import CLASSIFIER_DRAFT_FACTOR, ImageSource, load_array
from training.ml.runtime import make_session

logger = logging.getLogger(__name__)

ONNX_OPSET = 17
PREPROCESS_OPSET = 18  # Resize "antialias" needs opset 18
TRUNK_VERSION = 1  # bump when the trunk graph changes, to invalidate caches
EMBED_BATCH = 32

# Fraction of the shorter side kept by the centred square crop before resizing (ImageNet's 0.875).
CROP_FRACTION = 0.875
# Augmented views embedded per image for training: the image, its mirror, and a closer crop
# ("zoom" keeps 0.75 of the shorter side). Prediction always uses "full". On hymenoptera (3 seeded
# 70/30 splits, Lite0) 1 view gave 0.956, 2 views 0.961, these 3 views 0.972 and adding
# "zoom_flip" still 0.972, so three it is (cold embedding cost grows linearly with views).
VIEWS: tuple[str, ...] = ("full", "flip", "zoom")
ZOOM_FRACTION = 0.75
# How the pre-processing frames an image (see :func:`preprocess_graph`).
FRAMINGS: tuple[str, ...] = ("centre", "whole")


def check_framing(framing: str) -> None:
    """Raise ValueError unless ``framing`` is one of :data:`FRAMINGS`."""
    if framing not in FRAMINGS:
        raise ValueError(f"Unknown framing {framing!r}; choose one of {list(FRAMINGS)}")


def apply_view(image: np.ndarray, view: str) -> np.ndarray:
    """Return the uint8 (H, W, 3) array of one augmented view."""
    out = image
    if view.startswith("zoom"):
        # A centred square whose CROP_FRACTION crop (done by the graph) is ZOOM_FRACTION of the image.
        h, w = out.shape[:2]
        side = max(1, int(min(h, w) * ZOOM_FRACTION / CROP_FRACTION))
        top, left = (h - side) // 2, (w - side) // 2
        out = out[top : top + side, left : left + side]
    if view.endswith("flip"):
        out = out[:, ::-1]
    return np.ascontiguousarray(out)


def preprocess_graph(
    image_size: int,
    *,
    framing: str = "centre",
    input_name: str = "image",
    output_name: str = "pixels",
    prefix: str = "pp_",
) -> onnx.GraphProto:
    """Graph: uint8 image [H, W, 3] (RGB) -> float32 [1, 3, S, S] normalised to [-1, 1].

    ``framing`` "centre" takes the centred square of side ``floor(CROP_FRACTION * min(H, W))``
    (aspect ratio kept, ImageNet's evaluation crop); "whole" keeps the whole frame (stretched to a
    square). Then ONNX Resize-18 (linear, half-pixel, antialias=1, i.e. Pillow-like downscaling;
    small images are upscaled), then ``(x / 255 - 0.5) / 0.5``. Every inner name starts with
    ``prefix`` (two framings can live in one graph; ``opset.classifier_at_opset`` finds them by it).
    """
    check_framing(framing)
    scale = 1.0 / (255.0 * STD[0])
    shift = MEAN[0] / STD[0]
    i64 = TensorProto.INT64

    def n(name: str) -> str:
        return prefix + name

    nodes, inits = [], []
    source = input_name
    if framing == "centre":
        # side = max(1, floor(f * min(H, W))); top = (H - side) // 2; left = (W - side) // 2
        nodes = [
            helper.make_node("Shape", [input_name], [n("shape")], start=0, end=2),
            helper.make_node("ReduceMin", [n("shape")], [n("min")], keepdims=1),
            helper.make_node("Cast", [n("min")], [n("min_f")], to=TensorProto.FLOAT),
            helper.make_node("Mul", [n("min_f"), n("frac")], [n("side_f")]),
            helper.make_node("Floor", [n("side_f")], [n("side_fl")]),
            helper.make_node("Cast", [n("side_fl")], [n("side0")], to=i64),
            helper.make_node("Max", [n("side0"), n("one")], [n("side")]),
            helper.make_node("Sub", [n("shape"), n("side")], [n("margin")]),
            helper.make_node("Div", [n("margin"), n("two")], [n("starts")]),
            helper.make_node("Add", [n("starts"), n("side")], [n("ends")]),
            helper.make_node("Slice", [input_name, n("starts"), n("ends"), n("axes01")], [n("crop")]),
        ]
        inits = [
            helper.make_tensor(n("frac"), TensorProto.FLOAT, [1], [CROP_FRACTION]),
            helper.make_tensor(n("one"), i64, [1], [1]),
            helper.make_tensor(n("two"), i64, [1], [2]),
            helper.make_tensor(n("axes01"), i64, [2], [0, 1]),
        ]
        source = n("crop")
    nodes += [
        helper.make_node("Cast", [source], [n("f")], to=TensorProto.FLOAT),
        helper.make_node("Transpose", [n("f")], [n("chw")], perm=[2, 0, 1]),
        helper.make_node("Unsqueeze", [n("chw"), n("axes0")], [n("nchw")]),
        helper.make_node(
            "Resize",
            [n("nchw"), "", "", n("sizes")],
            [n("resized")],
            mode="linear",
            coordinate_transformation_mode="half_pixel",
            antialias=1,
        ),
        helper.make_node("Mul", [n("resized"), n("scale")], [n("scaled")]),
        helper.make_node("Sub", [n("scaled"), n("shift")], [output_name]),
    ]
    inits += [
        helper.make_tensor(n("axes0"), i64, [1], [0]),
        helper.make_tensor(n("sizes"), i64, [4], [1, 3, image_size, image_size]),
        helper.make_tensor(n("scale"), TensorProto.FLOAT, [], [scale]),
        helper.make_tensor(n("shift"), TensorProto.FLOAT, [], [shift]),
    ]
    return helper.make_graph(
        nodes,
        "preprocess",
        [helper.make_tensor_value_info(input_name, TensorProto.UINT8, ["height", "width", 3])],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, [1, 3, image_size, image_size])],
        initializer=inits,
    )


def preprocess_model(image_size: int, *, framing: str = "centre") -> onnx.ModelProto:
    """Standalone pre-processing model (see :func:`preprocess_graph`)."""
    model = helper.make_model(
        preprocess_graph(image_size, framing=framing), opset_imports=[helper.make_opsetid("", PREPROCESS_OPSET)]
    )
    model.ir_version = 8
    return model


def default_cache_dir() -> Path:
    """Shared cache used when no ``cache_dir`` is configured (TAGSIGHT_ML_CACHE or ~/.cache)."""
    env = os.environ.get("TAGSIGHT_ML_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "tagsight-ml"


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in its folder: readers see the old file or the whole new
    one, never a part (several workers may fill one cache)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


_export_lock = threading.Lock()


def export_trunk(
    backbone: str, image_size: int, path: Path, *, model: Any = None, prefix_blocks: int | None = None,
    pooling: str = "avg",
) -> Path:
    """Export the backbone trunk (normalised NCHW float -> pooled (N, F) embedding) to ONNX.

    Args:
        backbone: backbone name.
        image_size: input resolution the static padding is built for.
        path: output file (written atomically).
        model: an ``EfficientNetLite`` to export (default: the ImageNet one, pooling by ``pooling``).
        prefix_blocks: export only stem + the first ``prefix_blocks`` blocks (output: feature map
            "features" [N, C, h, w]) — the frozen part in advanced fine-tuning.
    """
    import io

    import torch

    if model is None:
        model = create_backbone(backbone, image_size=image_size, pretrained=True, pooling=pooling)
    net = model.eval()

    class Trunk(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out: torch.Tensor
            if prefix_blocks is not None:
                out = self.net.blocks[:prefix_blocks](self.net.stem(x))
            else:
                out = self.net.forward_pooled(x)
            return out

    output = "features" if prefix_blocks is not None else "embedding"

    buf = io.BytesIO()
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # legacy-exporter deprecation and constant-folding notices
        torch.onnx.export(
            Trunk().eval(),
            (torch.zeros(1, 3, image_size, image_size),),
            # torch's stub types f as a path; the TorchScript (dynamo=False) exporter writes file objects
            buf,  # type: ignore[arg-type]
            input_names=["pixels"],
            output_names=[output],
            dynamic_axes={"pixels": {0: "batch"}, output: {0: "batch"}},
            opset_version=ONNX_OPSET,
            do_constant_folding=True,
            dynamo=False,
        )
    atomic_write(path, _constants_as_initializers(onnx.load_from_string(buf.getvalue())).SerializeToString())
    return path


def _constants_as_initializers(model: onnx.ModelProto) -> onnx.ModelProto:
    """``model`` with its Constant nodes (the scalars of GeM pooling) as initializers, like every other weight:
    the graphs built on the trunk (``artifacts``, ``opset``, the exports' converters) read weights from there."""
    graph = model.graph
    constants = [n for n in graph.node if n.op_type == "Constant" and [a.name for a in n.attribute] == ["value"]]
    for node in constants:
        tensor = onnx.TensorProto()
        tensor.CopyFrom(node.attribute[0].t)
        tensor.name = node.output[0]
        graph.initializer.append(tensor)
        graph.node.remove(node)
    return model


def trunk_path(backbone: str, image_size: int, cache_dir: str | Path, *, pooling: str = "avg") -> Path:
    """Path of the cached ImageNet trunk ONNX for (backbone, size, pooling); exported on first use."""
    path = Path(cache_dir) / "trunks" / f"{backbone}-{image_size}{_pooling_suffix(pooling)}-v{TRUNK_VERSION}.onnx"
    if not path.exists():
        with _export_lock:
            if not path.exists():
                logger.info("exporting %s trunk at %d px (%s pooling) to %s", backbone, image_size, pooling, path)
                export_trunk(backbone, image_size, path, pooling=pooling)
    return path


def _pooling_suffix(pooling: str) -> str:
    """What a trunk's or an embedding cache's name adds for its pooling ("avg", the first, keeps the old names)."""
    check_pooling(pooling)
    return "" if pooling == "avg" else f"-{pooling}"


class Embedder:
    """Embeds uint8 images with onnxruntime: preprocess graph per image, trunk in batches."""

    def __init__(
        self,
        backbone: str,
        image_size: int | None,
        cache_dir: str | Path,
        threads: int | None = None,
        *,
        trunk_cache_dir: str | Path | None = None,
        framing: str = "centre",
        pooling: str = "avg",
    ):
        """``cache_dir`` holds the embeddings; the trunk ONNX goes to ``trunk_cache_dir`` (default: the same).
        ``pooling``: how the trunk pools its last map (``backbones.POOLINGS``)."""
        self.backbone = backbone
        self.image_size = image_size or get_spec(backbone).image_size
        self.framing = framing
        self.pooling = pooling
        self.cache_dir = Path(cache_dir)
        self.trunk_file = trunk_path(backbone, self.image_size, trunk_cache_dir or cache_dir, pooling=pooling)
        self._pre = make_session(preprocess_model(self.image_size, framing=framing).SerializeToString(), threads)
        self._trunk = make_session(self.trunk_file, threads)

    draft = CLASSIFIER_DRAFT_FACTOR  # JPEG draft factor of the images it embeds (``images.load_image``)

    def load(self, src: ImageSource) -> np.ndarray:
        """The uint8 (H, W, 3) array of a whole image, decoded as the classifier trained on it will decode it."""
        return load_array(src, image_size=self.image_size, draft=self.draft)

    def pixels(self, image: np.ndarray) -> np.ndarray:
        """Normalised (1, 3, S, S) float32 input of one uint8 (H, W, 3) image."""
        pixels: np.ndarray = self._pre.run(None, {"image": image})[0]
        return pixels

    def embed_pixels(self, pixels: np.ndarray) -> np.ndarray:
        """Trunk embeddings (N, F) of normalised pixels (N, 3, S, S)."""
        embeddings: np.ndarray = self._trunk.run(None, {"pixels": pixels})[0]
        return embeddings

    def embed(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Embeddings (N, F) of uint8 images of any sizes."""
        out = []
        for start in range(0, len(images), EMBED_BATCH):
            batch = np.concatenate([self.pixels(im) for im in images[start : start + EMBED_BATCH]])
            out.append(self.embed_pixels(batch))
        return np.concatenate(out) if out else np.zeros((0, get_spec(self.backbone).num_features), np.float32)


class EmbeddingCache:
    """Per-image, per-view (F,) float32 arrays on disk, keyed by content SHA-256 + backbone + size + framing + pooling
    + view.

    One file per view, so a run that embeds only the "full" view (a large training set, see
    ``classification.training_views``) and one that embeds every view (a small one, Data Health) share entries.
    """

    def __init__(self, cache_dir: str | Path, backbone: str, image_size: int, *, framing: str = "centre",
                 pooling: str = "avg"):
        # "centre" and "avg" keep the historical directory name.
        size = (f"{image_size}" if framing == "centre" else f"{image_size}{framing}") + _pooling_suffix(pooling)
        self.root = Path(cache_dir) / "embeddings" / f"{backbone}-{size}-v{TRUNK_VERSION}-d{Embedder.draft}"
        self._drop_old_layout()

    def _drop_old_layout(self) -> None:
        """Delete the entries of the layouts before this one, which nothing reads any more. They were kept in the
        same folder without "-d<draft>" (images decoded at draft factor 2, before ``Embedder.draft``): one folder
        per view ("view-full"), and before that one per set of views ("full-flip-zoom", "full") of ``.npy`` files.
        Only folders named that way go; they hold nothing but cached embeddings, which are computed again where
        needed."""
        before = self.root.with_name(self.root.name.rsplit("-d", 1)[0])
        try:
            children = [c for c in before.iterdir() if c.is_dir()]
        except OSError:
            return
        for child in children:
            if child.name.startswith("view-") or set(child.name.split("-")) <= set(VIEWS):
                shutil.rmtree(child, ignore_errors=True)
                logger.info("deleted the old-layout embedding cache %s", child)
        try:
            before.rmdir()  # only if nothing else is left in it
        except OSError:
            pass

    def _path(self, view: str, sha: str) -> Path:
        return self.root / f"view-{view}" / sha[:2] / f"{sha}.f32"

    def get(self, view: str, sha: str) -> np.ndarray | None:
        """The cached (F,) embedding, or None. Raw little-endian float32: reading 10,000 of them takes a
        fraction of what ``np.load``'s header parsing does."""
        try:
            arr = np.fromfile(self._path(view, sha), dtype="<f4")
        except OSError:
            return None
        return arr if arr.size else None

    def put(self, view: str, sha: str, arr: np.ndarray) -> None:
        atomic_write(self._path(view, sha), np.ascontiguousarray(arr, dtype="<f4").tobytes())


def embed_images(
    sources: Sequence[Callable[[], np.ndarray]],
    shas: Sequence[str],
    *,
    embedder: Embedder,
    views: Sequence[str] = VIEWS,
    progress: Callable[[int, int], None] | None = None,
    should_cancel: Callable[[], bool] | None = None,
) -> tuple[np.ndarray, int]:
    """Embeddings (N, V, F) for images, reading cached ones and computing the rest.

    Args:
        sources: per image, a function returning its uint8 (H, W, 3) array (called only on a miss).
        shas: per image, its content SHA-256.
        embedder: the onnxruntime embedder.
        views: augmented views to embed (see :func:`apply_view`).
        progress: called with (done, total) after each batch.
        should_cancel: polled between batches; when it returns True, ``embed_images`` returns early
            and the caller raises ``Cancelled``.

    Returns:
        (embeddings, number of images computed, i.e. cache misses).
    """
    cache = EmbeddingCache(embedder.cache_dir, embedder.backbone, embedder.image_size, framing=embedder.framing,
                           pooling=embedder.pooling)
    n = len(sources)
    out: list[list[np.ndarray | None]] = [[cache.get(v, sha) for v in views] for sha in shas]
    missing = [i for i, arrs in enumerate(out) if any(a is None for a in arrs)]
    # One view of one image per trunk call: an embedding never depends on which other images or views were
    # missing from the cache, so cold and warm runs give bit-identical results (and on this CPU batch 1 is
    # as fast per image as a batch of 3).
    for done, i in enumerate(missing, start=1):
        if should_cancel and should_cancel():
            break
        array = sources[i]()
        for j, view in enumerate(views):
            if out[i][j] is None:
                emb = embedder.embed_pixels(embedder.pixels(apply_view(array, view)))[0]
                cache.put(view, shas[i], emb)
                out[i][j] = emb
        if progress:
            progress(n - len(missing) + done, n)
    if any(a is None for arrs in out for a in arrs):
        return np.zeros((0,)), len(missing)
    if not n:
        return np.zeros((0, len(views), get_spec(embedder.backbone).num_features), np.float32), 0
    return np.array(out, dtype=np.float32).reshape(n, len(views), -1), len(missing)
