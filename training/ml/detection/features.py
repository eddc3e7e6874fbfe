"""Detection features: the frozen trunk in onnxruntime and the cache of its outputs per augmented view.

Quick mode freezes the whole ImageNet trunk, so its outputs are computed once per augmented view
(``Recipe.views_per_image`` per image, view 0 un-augmented) and every head (each fold's, then the
final one) trains on the cached fp16 maps.
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from training.ml.detection import data as ddata
from training.ml.detection.head import Recipe
from training.ml.detection.model import assign_targets, locations
from training.ml.embeddings import atomic_write
from training.ml.manifest import Manifest
from training.ml.progress import StepReport
from training.ml.runtime import export_torch, make_session, map_in_order, torch_threads

# An augmented view: the trunk's maps (fp16, from the first cached stage on), its boxes in view pixels and, for
# each box, the index of the image's box it shows.
_View = tuple[list[np.ndarray], Tensor, Tensor]


class LazyImages(Sequence[Tensor]):
    """The manifest's images (or a subset), decoded on access: nothing but the cached features stays
    in memory, so peak RSS does not grow with the number of photos."""

    def __init__(self, manifest: Manifest, image_size: int, indices: Sequence[int] | None = None) -> None:
        self.manifest = manifest
        self.image_size = image_size
        self.indices = list(range(len(manifest.samples)) if indices is None else indices)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> Tensor:  # type: ignore[override]
        sample = self.manifest.samples[self.indices[i]]
        return ddata.load_rgb(self.manifest.resolve(sample), self.image_size)

    def __iter__(self) -> Iterator[Tensor]:
        return (self[i] for i in range(len(self)))


class FeatureStore:
    """Augmented views of every image, pushed once through the frozen trunk (fp16 maps + targets)."""

    def __init__(self, feats: list[Tensor], labels: Tensor, ltrb: Tensor, owner: Tensor) -> None:
        self.feats = feats  # [C3, C4, C5], each (V, C, H, W) float16
        self.labels = labels  # (V, L) int16, -1 = background
        self.ltrb = ltrb  # (V, L, 4) float32
        self.owner = owner  # (V,) image index of each view

    def views_of(self, images: Sequence[int]) -> Tensor:
        wanted = torch.zeros(int(self.owner.max()) + 1 if self.owner.numel() else 0, dtype=torch.bool)
        wanted[torch.as_tensor(list(images), dtype=torch.long)] = True
        return torch.nonzero(wanted[self.owner]).flatten()


class ImageToStages(torch.nn.Module):
    """uint8 (H, W, 3) image -> resize + normalise -> trunk stages (C3, C4, C5); exported to ONNX."""

    def __init__(self, trunk: torch.nn.Module, image_size: int) -> None:
        super().__init__()
        self.trunk = trunk
        self.image_size = image_size

    def forward(self, image: Tensor) -> tuple[Tensor, ...]:
        return tuple(self.trunk.forward_stages(ddata.preprocess(image, self.image_size)))  # type: ignore[operator]


# Bump when the exported trunk graph (ImageToStages: pre-processing + trunk stages) changes: cached files of
# another version are never read.
TRUNK_VERSION = 1
# Bump when the views change (data.full_view / random_view, their seeding): cached views of another version are
# never read.
VIEWS_VERSION = 1
# The view cache's default bound (all backbones and sizes together; TrainConfig.view_cache_mb): about 27,000
# views at 320 px, the views of a 10,000-image project and then some.
VIEW_CACHE_BYTES = 4 * 2**30


def trunk_session(backbone: str, trunk: torch.nn.Module, image_size: int, cache_dir: str | Path) -> Any:
    """The ImageNet ``trunk`` (with the preprocessing) in onnxruntime (the fast path), with one intra-op thread:
    views and validation images go through it side by side (``runtime.map_in_order``).

    Its ONNX depends only on the backbone, the size and TRUNK_VERSION, so it is exported once into ``cache_dir``
    and every later training opens that file (the export took ~0.5 s of each training, ~2 s in a fresh worker).
    It is written atomically: workers exporting it at the same time each leave a whole file."""
    path = Path(cache_dir) / "trunks" / f"detection-{backbone}-{image_size}-v{TRUNK_VERSION}.onnx"
    if not path.exists():
        buf = io.BytesIO()
        export_torch(
            ImageToStages(trunk, image_size).eval(),  # eval(): the exporter traces in the wrapper's mode
            (torch.zeros(image_size + 17, image_size + 41, 3, dtype=torch.uint8),),
            buf,
            input_names=["image"],
            output_names=["c3", "c4", "c5"],
            dynamic_axes={"image": {0: "height", 1: "width"}},
        )
        atomic_write(path, buf.getvalue())
    return make_session(path, 1, memory_arena=False)


def first_cached_stage(recipe: Recipe) -> int:
    """Index of the first trunk stage the head reads (C3 = 0 with the stride-8 level, else C4 = 1): what the
    feature store and the view cache keep."""
    return 0 if recipe.strides[0] == 8 else 1


def views_per_image(num_images: int, recipe: Recipe) -> int:
    """Views rendered per image: ``recipe.views_per_image``, fewer (at least 2) beyond ``view_budget`` views
    in all, and fewer still (at least 1) when ``max_views`` would be exceeded."""
    n = max(num_images, 1)
    per = min(recipe.views_per_image, max(2, recipe.view_budget // n))
    return max(1, min(per, recipe.max_views // n))


class ViewCache:
    """The trunk's maps of each augmented view of each image, with the view's boxes, on disk: one file per image,
    seed and view, so a later training (a retraining, or one after images were added) renders views and runs the
    trunk only for images it has not seen, or whose boxes changed.

    An image's entries are keyed by :func:`view_key` (its bytes and its boxes); the folder by everything else a view
    depends on (backbone, size, the first cached stage, TRUNK_VERSION and VIEWS_VERSION). A view's boxes are kept as
    indices into the image's own boxes, so renaming or re-ordering tags reuses them. The cache keeps at most
    ``max_bytes`` (default VIEW_CACHE_BYTES), the least recently used views going first (:meth:`prune`).
    """

    def __init__(self, cache_dir: str | Path, backbone: str, recipe: Recipe, max_bytes: int = VIEW_CACHE_BYTES) -> None:
        name = (f"{backbone}-{recipe.image_size}-c{first_cached_stage(recipe) + 3}-t{TRUNK_VERSION}"
                f"-v{VIEWS_VERSION}")
        self.root = Path(cache_dir) / "detection-views" / name
        self.max_bytes = max_bytes

    def _path(self, key: str, seed: int, view: int) -> Path:
        return self.root / key[:2] / f"{key}-{seed}-{view}.npz"

    def get(self, key: str, seed: int, view: int) -> _View | None:
        """The cached view, or None (missing or unreadable: it is computed again)."""
        try:
            path = self._path(key, seed, view)
            with np.load(path) as z:
                maps = [z[f"arr_{i}"] for i in range(2, len(z.files))]
                found = maps, torch.from_numpy(z["arr_0"]), torch.from_numpy(z["arr_1"])
            os.utime(path)  # used now: :meth:`prune` deletes the least recently used first
            return found
        except (OSError, ValueError, KeyError, zipfile.BadZipFile):
            return None

    def put(self, key: str, seed: int, view: int, value: _View) -> None:
        maps, boxes, index = value
        buf = io.BytesIO()
        np.savez(buf, boxes.numpy(), index.numpy(), *maps)  # arr_0, arr_1, then the maps
        atomic_write(self._path(key, seed, view), buf.getvalue())

    def prune(self) -> int:
        """Delete the least recently used views of every backbone and size while they take more than
        ``max_bytes`` (down to 90 % of it); returns how many files went. Entries are cheap to compute again, and
        without a bound the views of every photo ever trained would fill the disk (~0.15 MB a view at 320 px)."""
        entries = []
        for path in self.root.parent.rglob("*.npz"):
            try:
                st = path.stat()
            except OSError:  # another worker's prune took it
                continue
            entries.append((st.st_mtime, st.st_size, path))
        total = sum(size for _, size, _ in entries)
        if total <= self.max_bytes:
            return 0
        deleted = 0
        for _, size, path in sorted(entries, key=lambda e: (e[0], str(e[2]))):
            if total <= 0.9 * self.max_bytes:
                break
            path.unlink(missing_ok=True)
            total -= size
            deleted += 1
        return deleted


def view_key(image_sha256: str, target: ddata.Target) -> str:
    """What an image's views depend on besides the settings: its bytes (their SHA-256) and its boxes."""
    h = hashlib.sha256(image_sha256.encode())
    h.update(target.boxes.to(torch.float32).contiguous().numpy().tobytes())
    return h.hexdigest()


def build_features(
    images: Sequence[Tensor],
    targets: list[ddata.Target],
    keys: Sequence[str],
    session: Any,
    recipe: Recipe,
    seed: int,
    report: StepReport,
    workers: int = 1,
    cache: ViewCache | None = None,
) -> FeatureStore:
    """Render the views of every image (view 0 un-augmented) and cache the trunk's outputs.

    Each view's augmentation draws from its own generator, seeded by ``seed``, the image's key and the view's
    number, so a view is the same whichever images come with it, and ``cache`` can keep it for the next training.

    Args:
        images: uint8 (3, H, W) images (decoded only where a view is not cached).
        targets: their boxes and labels.
        keys: their :func:`view_key`.
        session: :func:`trunk_session`.
        recipe: image size, views per image, strides.
        seed: seeds the augmentation.
        report: called after each image with (views done, views planned, detail).
        workers: images rendered and run through the trunk side by side (``runtime.map_in_order``).
        cache: where views of earlier trainings are kept (None: compute every view).
    """
    s = recipe.image_size
    points, strides, levels = locations(s, recipe.strides)
    n = len(images)
    per = views_per_image(n, recipe)
    total = n * per
    first_stage = first_cached_stage(recipe)

    def render(image: Tensor, target: ddata.Target, key: str, v: int) -> _View:
        boxes = ddata.Target(target.boxes, torch.arange(len(target.boxes)))  # labels: the boxes' own indices
        if v == 0:
            view, view_boxes, index = ddata.full_view(image, boxes, s)
        else:
            rng = np.random.default_rng([seed + 7919, v, *(int(key[i : i + 8], 16) for i in range(0, 64, 8))])
            view, view_boxes, index = ddata.random_view(image, boxes, s, rng)
        # Batch 1 is the fastest onnxruntime setting here; the in-graph resize is an identity.
        outs = session.run(None, {"image": view.permute(1, 2, 0).numpy()})
        return [o.astype(np.float16) for o in outs[first_stage:]], view_boxes, index  # no C3 unless P3

    def views_of(i: int) -> list[_View]:
        found = [cache.get(keys[i], seed, v) if cache else None for v in range(per)]
        if any(f is None for f in found):
            image = images[i]
            for v in range(per):
                if found[v] is None:
                    found[v] = render(image, targets[i], keys[i], v)
                    if cache:
                        cache.put(keys[i], seed, v, found[v])  # type: ignore[arg-type]
                        written.append(1)
        return found  # type: ignore[return-value]

    written: list[int] = []  # appended to by the workers (list.append is atomic)
    feats: list[list[np.ndarray]] = [[], [], []]
    labels, ltrbs, owner = [], [], []
    for i, views in enumerate(map_in_order(views_of, range(n), workers)):
        for maps, view_boxes, index in views:
            for lst, m in zip(feats[first_stage:], maps, strict=True):
                lst.append(m)
            with torch_threads(1):
                labs = targets[i].labels[index]
                tl, tb = assign_targets(points, strides, levels, view_boxes, labs, recipe.assignment)
            labels.append(tl.to(torch.int16))
            ltrbs.append(tb)
            owner.append(i)
        report((i + 1) * per, total, f"{(i + 1) * per} of {total} views")
    if cache and written:
        cache.prune()
    return FeatureStore(
        [torch.from_numpy(np.concatenate(f)) if f else torch.empty(0) for f in feats],
        torch.stack(labels),
        torch.stack(ltrbs),
        torch.tensor(owner, dtype=torch.long),
    )
