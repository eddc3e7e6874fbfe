"""Near-duplicates: cosine similarity of backbone embeddings, confirmed by a perceptual hash, then clusters.

An embedding alone cannot tell a resized copy from two photos of the same kind of ant on the same kind of leaf:
both sit close together. A DCT perceptual hash (pHash) can, but alone it would pair unrelated images by chance
among millions of pairs and drifts with crops. So the embedding finds candidates (cosine >= ``MIN_COSINE``) and
the hash decides, allowing more differing bits the more similar the embeddings are (``TIERS``). Measured on
hymenoptera and raccoon with injected copies (benchmarks/data_health.py): copies differ in <= 14 of 64 bits
(one crop: 20 bits at cosine 0.93), distinct photos in >= 24 bits; two photos of one hemlock sprig on the same
white wall (tests/data) differ in 22 bits at cosine 0.905 — the margins are a few bits, not a gulf.

The search is exact. Above ``PROJECT_ABOVE`` images the embeddings are projected on their top principal
components first: a projection onto orthonormal axes never lengthens a distance, so every pair within the
cosine threshold in full space is also within it in the projection (no pair is lost); the candidates are then
checked in full.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

MIN_COSINE = 0.70  # embedding candidates: at least this similar
# (cosine at least, pHash bits differing at most): a pair meeting any tier is a near-duplicate.
TIERS: tuple[tuple[float, int], ...] = ((0.70, 16), (0.90, 20), (0.97, 64))
PROJECT_ABOVE = 4000
PROJECT_DIMS = 128
PCA_SAMPLE = 2000  # rows the principal axes are estimated from (any orthonormal axes keep the search exact)
BLOCK = 2048
VERIFY_CHUNK = 65536

_HASH_SIZE = 8
_DCT_SIZE = 32


def _dct_matrix(n: int) -> np.ndarray:
    k = np.arange(n)[:, None]
    x = np.arange(n)[None, :]
    m = np.cos(np.pi * (2 * x + 1) * k / (2 * n)) * np.sqrt(2.0 / n)
    m[0] /= np.sqrt(2.0)
    out: np.ndarray = m
    return out


_DCT = _dct_matrix(_DCT_SIZE)


def perceptual_hash(image: Image.Image) -> int:
    """64-bit pHash: 32x32 grey, 2-D DCT, the 8x8 lowest frequencies against their median (as imagehash.phash)."""
    grey = np.asarray(image.convert("L").resize((_DCT_SIZE, _DCT_SIZE), Image.Resampling.LANCZOS), np.float64)
    low = (_DCT @ grey @ _DCT.T)[:_HASH_SIZE, :_HASH_SIZE]
    bits = (low > np.median(low)).ravel()
    return int(np.packbits(bits).view(">u8")[0])


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bitwise distance between uint64 hashes (broadcasting)."""
    x = np.bitwise_xor(a.astype(np.uint64), b.astype(np.uint64))
    out: np.ndarray = np.bitwise_count(x)
    return out


def _normalised(embeddings: np.ndarray) -> np.ndarray:
    x = np.asarray(embeddings, dtype=np.float32)
    out: np.ndarray = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    return out


def similar_pairs(embeddings: np.ndarray, *, min_cosine: float = MIN_COSINE) -> tuple[np.ndarray, np.ndarray]:
    """All pairs i < j with cosine >= ``min_cosine`` (exact).

    Args:
        embeddings: (N, F) features.
        min_cosine: the similarity threshold.

    Returns:
        (pairs (P, 2) int64 with i < j, their cosines (P,) float32).
    """
    x = _normalised(embeddings)
    n = len(x)
    search = x
    radius2 = 2.0 * (1.0 - min_cosine)  # |a - b|^2 for unit vectors
    if n > PROJECT_ABOVE and x.shape[1] > PROJECT_DIMS:
        centred = x - x.mean(0)
        sample = centred[np.linspace(0, n - 1, min(n, PCA_SAMPLE)).astype(int)]
        _, vectors = np.linalg.eigh(sample.T @ sample)  # principal axes, ascending (cheaper than an SVD)
        search = centred @ vectors[:, -PROJECT_DIMS:]
    sq = np.einsum("ij,ij->i", search, search)
    rows, cols, sims = [], [], []
    for start in range(0, n, BLOCK):
        block = search[start : start + BLOCK]
        d2 = sq[start : start + BLOCK, None] + sq[None, :] - 2.0 * (block @ search.T)
        i, j = np.nonzero(d2 <= radius2 + 1e-5)
        keep = j > i + start
        i, j = i[keep] + start, j[keep]
        for c in range(0, len(i), VERIFY_CHUNK):  # candidates checked in full, a bounded slice at a time
            ci, cj = i[c : c + VERIFY_CHUNK], j[c : c + VERIFY_CHUNK]
            cos = np.einsum("ij,ij->i", x[ci], x[cj])
            ok = cos >= min_cosine
            rows.append(ci[ok])
            cols.append(cj[ok])
            sims.append(cos[ok])
    if not rows:
        return np.zeros((0, 2), np.int64), np.zeros(0, np.float32)
    pairs = np.stack([np.concatenate(rows), np.concatenate(cols)], axis=1).astype(np.int64)
    return pairs, np.concatenate(sims).astype(np.float32)


def near_duplicate_pairs(
    embeddings: np.ndarray,
    hashes: Sequence[int] | np.ndarray | None = None,
    *,
    tiers: Sequence[tuple[float, int]] = TIERS,
) -> list[tuple[int, int, float]]:
    """Near-duplicate pairs (i, j, cosine), most similar first.

    Args:
        embeddings: (N, F) features of the images.
        hashes: their 64-bit perceptual hashes (None: only a tier that allows all 64 bits can match).
        tiers: (minimum cosine, maximum differing hash bits); a pair meeting any of them is a near-duplicate.
    """
    pairs, cos = similar_pairs(embeddings, min_cosine=min(t[0] for t in tiers))
    if hashes is not None and len(pairs):
        h = np.asarray([int(v) for v in hashes], dtype=np.uint64)
        bits = hamming(h[pairs[:, 0]], h[pairs[:, 1]])
    else:
        bits = np.full(len(pairs), 64)
    ok = np.zeros(len(pairs), dtype=bool)
    for min_cos, max_bits in tiers:
        ok |= (cos >= min_cos) & (bits <= max_bits)
    order = np.argsort(-cos[ok], kind="stable")
    kept, kept_cos = pairs[ok][order], cos[ok][order]
    return [(int(a), int(b), float(c)) for (a, b), c in zip(kept, kept_cos, strict=True)]


def clusters(n: int, pairs: Sequence[tuple[int, int]] | Sequence[tuple[int, int, float]]) -> list[list[int]]:
    """Connected groups (size >= 2) of ``n`` items joined by ``pairs``, each sorted, largest first."""
    parent = list(range(n))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for pair in pairs:
        ra, rb = find(int(pair[0])), find(int(pair[1]))
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(find(i), []).append(i)
    out = [g for g in groups.values() if len(g) > 1]
    return sorted(out, key=lambda g: (-len(g), g[0]))


def exact_duplicates(shas: Sequence[str]) -> list[list[int]]:
    """Groups of items with the same content hash (within a project the database already forbids them)."""
    by: dict[str, list[int]] = {}
    for i, sha in enumerate(shas):
        by.setdefault(sha, []).append(i)
    return [g for g in by.values() if len(g) > 1]


def leaking_pairs(
    pairs: Sequence[tuple[int, int, float]], fold_of: Sequence[int | None]
) -> list[tuple[int, int, float]]:
    """Pairs whose two images were evaluated apart: different folds (k-fold) or training vs validation.

    ``fold_of[i]``: the validation fold of item i (hold-out: 0 for validation, -1 for training); None when the
    image was not in the iteration.
    """
    return [p for p in pairs if fold_of[p[0]] is not None and fold_of[p[1]] is not None
            and fold_of[p[0]] != fold_of[p[1]]]
