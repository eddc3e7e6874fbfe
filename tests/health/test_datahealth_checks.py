"""Data Health's pure computations on small arrays and real images (no Django, no database)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from health.checks import balance, boxes, duplicates, mislabels
from tests.factories import DATASETS

QUICKSTART = DATASETS / "azure-quickstart" / "classification"


def _unit(rng: np.random.Generator, n: int, dims: int = 64) -> np.ndarray:
    x = rng.standard_normal((n, dims)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _near(x: np.ndarray, cosine: float, rng: np.random.Generator) -> np.ndarray:
    """A unit vector at exactly ``cosine`` from unit vector ``x``."""
    noise = rng.standard_normal(x.shape).astype(np.float32)
    noise -= (noise @ x) * x
    noise /= np.linalg.norm(noise)
    return (cosine * x + np.sqrt(1 - cosine**2) * noise).astype(np.float32)


def test_similar_pairs_finds_exactly_the_pairs_above_the_threshold() -> None:
    rng = np.random.default_rng(0)
    x = _unit(rng, 50)
    x = np.concatenate([x, [_near(x[3], 0.95, rng), _near(x[7], 0.85, rng)]])
    pairs, cos = duplicates.similar_pairs(x, min_cosine=0.9)
    assert pairs.tolist() == [[3, 50]]
    assert cos[0] == pytest.approx(0.95, abs=1e-4)


def test_projected_search_loses_no_pair(monkeypatch: pytest.MonkeyPatch) -> None:
    """Above PROJECT_ABOVE images the search runs on principal components first: same pairs as the full product."""
    rng = np.random.default_rng(1)
    base = rng.standard_normal((12, 96)).astype(np.float32)
    x = base[rng.integers(0, 12, 600)] + 0.3 * rng.standard_normal((600, 96)).astype(np.float32)
    full, _ = duplicates.similar_pairs(x, min_cosine=0.9)
    monkeypatch.setattr(duplicates, "PROJECT_ABOVE", 100)
    monkeypatch.setattr(duplicates, "PROJECT_DIMS", 8)
    projected, _ = duplicates.similar_pairs(x, min_cosine=0.9)
    assert len(full) > 10
    assert sorted(map(tuple, projected.tolist())) == sorted(map(tuple, full.tolist()))


def test_middle_band_needs_the_hashes_to_agree() -> None:
    rng = np.random.default_rng(2)
    x = _unit(rng, 4)
    x = np.concatenate([x, [_near(x[0], 0.93, rng), _near(x[1], 0.93, rng), _near(x[2], 0.98, rng)]])
    hashes = [0, 2**64 - 1, 5, 7, 1, 0, 2**64 - 1]  # 4 ~ 0 (one bit), 5 vs 1 all bits differ, 6 vs 2 too
    pairs = duplicates.near_duplicate_pairs(x, hashes)
    assert {(a, b) for a, b, _ in pairs} == {(0, 4), (2, 6)}  # (1, 5): same-looking, different picture
    assert pairs[0][:2] == (2, 6)  # most similar first
    assert {(a, b) for a, b, _ in duplicates.near_duplicate_pairs(x)} == {(2, 6)}  # no hashes: only "sure"


def test_perceptual_hash_survives_resize_and_reencode_but_tells_photos_apart() -> None:
    files = sorted((QUICKSTART / "Hemlock").glob("*.jpg"))[:2]
    original = Image.open(files[0]).convert("RGB")
    buf = io.BytesIO()
    original.resize((original.width * 6 // 10, original.height * 6 // 10)).save(buf, "JPEG", quality=60)
    copy = Image.open(buf)
    other = Image.open(files[1]).convert("RGB")
    h = np.asarray([duplicates.perceptual_hash(im) for im in (original, copy, other)], dtype=np.uint64)
    assert duplicates.hamming(h[0], h[1]) <= 6
    assert duplicates.hamming(h[0], h[2]) > duplicates.TIERS[0][1]


def test_clusters_join_chains_and_drop_singletons() -> None:
    assert duplicates.clusters(7, [(0, 1, 0.9), (1, 4, 0.9), (5, 6, 0.9)]) == [[0, 1, 4], [5, 6]]
    assert duplicates.clusters(3, []) == []
    assert duplicates.exact_duplicates(["a", "b", "a"]) == [[0, 2]]


def test_leaking_pairs_are_those_evaluated_apart() -> None:
    pairs = [(0, 1, 0.99), (2, 3, 0.98), (4, 5, 0.97), (0, 6, 0.96)]
    fold_of = [-1, 0, 0, 0, 1, 2, None]  # hold-out: -1 train / 0 validation; k-fold: the fold; None: not trained
    assert duplicates.leaking_pairs(pairs, fold_of) == [(0, 1, 0.99), (4, 5, 0.97)]


def test_confident_learning_ranks_flipped_labels_first() -> None:
    rng = np.random.default_rng(3)
    centres = rng.standard_normal((3, 16)) * 4
    labels = np.repeat(np.arange(3), 40)
    x = centres[labels] + rng.standard_normal((120, 16))
    flipped = [5, 50, 100, 110]
    noisy = labels.copy()
    noisy[flipped] = (labels[flipped] + 1) % 3
    probs = mislabels.out_of_fold_probabilities(x, noisy, 3)
    assert probs.shape == (120, 3)
    assert np.allclose(probs.sum(1), 1)
    suspects = mislabels.label_suspects(noisy, probs)
    top = {s.index for s in suspects[:8]}
    assert set(flipped) <= top
    s = next(s for s in suspects if s.index == 50)
    assert (s.given, s.suggested) == (2, 1)
    assert s.suggested_probability > s.given_probability


def test_box_shape_issues() -> None:
    entries = [
        ("a", "dog", (0.0, 0.0, 1.0, 0.98)),  # whole image
        ("a", "dog", (0.5, 0.5, 0.01, 0.02)),  # tiny (0.02 % of the image)
        ("b", "dog", (0.1, 0.1, 0.4, 0.4)),
        ("b", "dog", (0.11, 0.1, 0.4, 0.4)),  # the same dog drawn twice (IoU 0.95)
        ("b", "cat", (0.1, 0.1, 0.4, 0.4)),  # same place, another tag: not a double
        ("c", "dog", (0.11, 0.1, 0.4, 0.4)),  # another image
    ]
    found = {(i.kind, i.index, i.other) for i in boxes.shape_issues(entries)}
    assert found == {("whole_image", 0, -1), ("tiny", 1, -1), ("double", 3, 2)}


def test_tiny_boxes_are_slips_only_among_larger_boxes_of_their_tag() -> None:
    # A set of small objects: 8 x 12 px forks on 512 x 384 photos (0.05 % of the image, under TINY_AREA) are the
    # objects; a 3 x 2 px box among them is still a slip, and one among a tag's large boxes too.
    small = [(f"img{i}", "fork", (0.1 + 0.05 * i, 0.2, 8 / 512, 12 / 384)) for i in range(12)]
    entries = [
        *small,
        ("img0", "fork", (0.7, 0.7, 3 / 512, 2 / 384)),  # 12: a slip among small forks
        ("img1", "dog", (0.1, 0.1, 0.4, 0.4)),
        ("img2", "dog", (0.2, 0.1, 0.3, 0.5)),
        ("img3", "dog", (0.5, 0.5, 8 / 512, 12 / 384)),  # 15: a fork-sized box among large dogs
        ("img4", "cat", (0.5, 0.5, 8 / 512, 12 / 384)),  # 16: the only cat: judged against every box
    ]
    found = {(i.kind, i.index) for i in boxes.shape_issues(entries)}
    assert found == {("tiny", 12), ("tiny", 15)}


def test_box_model_issues() -> None:
    drawn = [("dog", (0.1, 0.1, 0.3, 0.3)), ("cat", (0.6, 0.6, 0.3, 0.3))]
    predicted = [("dog", 0.95, (0.1, 0.1, 0.3, 0.31)),  # agrees
                 ("dog", 0.9, (0.6, 0.6, 0.3, 0.3)),  # the "cat" box looks like a dog
                 ("cat", 0.85, (0.0, 0.7, 0.15, 0.2)),  # a confident box nobody drew
                 ("cat", 0.3, (0.4, 0.0, 0.1, 0.1))]  # unsure: ignored
    found = {(i.kind, i.index, i.tag) for i in boxes.model_issues(drawn, predicted)}
    assert found == {("tag_disagrees", 1, "dog"), ("missing", -1, "cat")}
    assert boxes.iou((0, 0, 1, 1), (0, 0, 0.5, 1)) == pytest.approx(0.5)
    assert boxes.box_crop((0.5, 0.5, 0.5, 0.5), 100, 80) == (45, 36, 100, 80)


def test_tag_balance_against_minimum_and_advice() -> None:
    rows = balance.tag_balance({"ant": 60, "bee": 30, "wasp": 3}, minimum=5)
    assert [(r.tag, r.count, r.below_minimum, r.below_advised) for r in rows] == [
        ("ant", 60, False, False), ("bee", 30, False, True), ("wasp", 3, True, True)]
    assert sum(r.share for r in rows) == pytest.approx(1.0)
