"""What the checks read from the pixels: backbone embeddings (through the training embedding cache) and pHashes.

Whole images use the same cache entries as training (content SHA-256 + backbone + size + view), so after a
training every image's "full" view is a cache hit (its other views too, where training embedded them). A detection
box is embedded from its crop, cached under a key made of the image's SHA-256 and the box.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from health.checks.boxes import Box, box_crop
from health.checks.duplicates import perceptual_hash
from training.ml.embeddings import VIEWS, Embedder, embed_images
from training.ml.images import load_array, load_image

Progress = Callable[[int, int], None]


def image_embeddings(
    paths: Sequence[str | Path], shas: Sequence[str], *, embedder: Embedder, progress: Progress | None = None
) -> np.ndarray:
    """(N, V, F) embeddings of whole images (training's views, so training's cache entries serve)."""
    sources = [lambda p=p: embedder.load(p) for p in paths]
    emb, _ = embed_images(sources, shas, embedder=embedder, views=VIEWS, progress=progress)
    return emb


def box_key(sha: str, box: Box) -> str:
    """Cache key of one box's crop."""
    return hashlib.sha256(f"{sha}:{','.join(f'{v:.5f}' for v in box)}".encode()).hexdigest()


def box_embeddings(
    items: Sequence[tuple[str | Path, str, Box]], *, embedder: Embedder, progress: Progress | None = None
) -> np.ndarray:
    """(B, V, F) embeddings of box crops; ``items`` = [(image path, image SHA-256, box)]."""
    size = embedder.image_size

    def crop(path: str | Path, box: Box) -> np.ndarray:  # draft factor 2: a box is a part of the image
        image = load_array(path, image_size=size)
        x0, y0, x1, y1 = box_crop(box, image.shape[1], image.shape[0])
        return np.ascontiguousarray(image[y0:y1, x0:x1])

    sources = [lambda p=p, b=b: crop(p, b) for p, _sha, b in items]
    keys = [box_key(sha, b) for _p, sha, b in items]
    emb, _ = embed_images(sources, keys, embedder=embedder, views=VIEWS, progress=progress)
    return emb


def image_hashes(paths: Sequence[str | Path]) -> np.ndarray:
    """(N,) uint64 perceptual hashes."""
    out = np.zeros(len(paths), dtype=np.uint64)
    for i, path in enumerate(paths):
        image = load_image(path, image_size=64)
        image.thumbnail((256, 256), Image.Resampling.BILINEAR)  # the hash looks at 32 x 32 anyway
        out[i] = perceptual_hash(image)
    return out
