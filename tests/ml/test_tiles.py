"""Tiled detection (training.ml.detection.tiles): the windows, the class-aware NMS (torchvision's), and the two rules
that keep tiles from breaking larger objects, on a detector whose answers are set by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchvision.ops import batched_nms

from training.ml.detection import tiles


def test_the_windows_cover_the_image_and_overlap_by_the_given_share() -> None:
    windows = tiles.tile_windows(512, 384)
    assert windows == [(0, 0, 284, 213), (0, 171, 284, 384), (228, 0, 512, 213), (228, 171, 512, 384)]
    assert (284 - 228) / 284 == pytest.approx(0.2, abs=0.01)
    for width, height, grid in ((641, 479, 3), (1000, 10, 2), (37, 91, 4)):
        found = tiles.tile_windows(width, height, grid, 0.25)
        assert len(found) == grid**2 and max(w[2] for w in found) == width and max(w[3] for w in found) == height
        assert min(w[0] for w in found) == 0 and min(w[1] for w in found) == 0


def test_class_nms_keeps_what_torchvisions_batched_nms_keeps() -> None:
    rng = np.random.default_rng(0)
    for n in (0, 1, 5, 80, 400):
        corner = rng.random((n, 2)).astype(np.float32)
        boxes = np.concatenate([corner, corner + 0.3 * rng.random((n, 2)).astype(np.float32)], axis=1)
        scores, labels = rng.random(n).astype(np.float32), rng.integers(0, 3, n)
        expected = batched_nms(torch.from_numpy(boxes), torch.from_numpy(scores), torch.from_numpy(labels), 0.5)
        assert tiles.class_nms(boxes, scores, labels, 0.5).tolist() == expected.tolist()


def _image(width: int, height: int) -> np.ndarray:
    """An image whose pixel (y, x) reads (x, y): a crop's first pixel says where it was cut."""
    ys, xs = np.mgrid[0:height, 0:width]
    return np.stack([xs, ys, np.zeros_like(xs)], axis=-1).astype(np.uint8)


def _answers(by_origin: dict[tuple[int, int] | None, list[tuple[list[float], float, int]]]):  # type: ignore[no-untyped-def]
    """A detector answering the given (box, score, label)s for the crop cut at (left, top), None: the whole image."""
    def run(array: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        origin = None if array.shape[1] == 200 else (int(array[0, 0, 0]), int(array[0, 0, 1]))
        found = by_origin.get(origin, [])
        return (np.array([b for b, _, _ in found], np.float32).reshape(-1, 4),
                np.array([s for _, s, _ in found], np.float32), np.array([c for _, _, c in found], np.int64))
    return run


def test_tile_boxes_are_mapped_back_merged_and_cut_or_partial_ones_dropped() -> None:
    image = _image(200, 100)
    assert tiles.tile_windows(200, 100) == [(0, 0, 111, 56), (0, 44, 111, 100), (89, 0, 200, 56), (89, 44, 200, 100)]
    tile_w, tile_h = 111 / 200, 56 / 100
    run = _answers({
        None: [([0.0, 0.0, 0.5, 1.0], 0.9, 0)],  # the whole image: a large object on its left half
        (0, 0): [
            ([0.1, 0.1, 0.2, 0.2], 0.8, 1),  # a small object, seen only by the top-left tile
            ([0.5, 0.5, 0.999, 0.9], 0.7, 0),  # reaching the tile's inner right side: cut, dropped
            ([0.05, 0.1, 0.6, 0.9], 0.6, 0),  # lying inside the whole image's large box: a part of it, dropped
        ],
        (89, 44): [([0.2, 0.2, 0.4, 0.4], 0.5, 1)],  # another small one, bottom right
        (89, 0): [([0.2, 0.2 + 44 / 56, 0.4, 0.4 + 44 / 56], 0.3, 1)],  # the same one, from the tile above
    })
    boxes, scores, labels = tiles.tiled_outputs(run, image, 300, edge=0.01)
    assert labels.tolist() == [0, 1, 1] and scores.tolist() == pytest.approx([0.9, 0.8, 0.5])
    np.testing.assert_allclose(boxes[0], [0.0, 0.0, 0.5, 1.0])
    np.testing.assert_allclose(boxes[1], [0.1 * tile_w, 0.1 * tile_h, 0.2 * tile_w, 0.2 * tile_h], atol=1e-6)
    np.testing.assert_allclose(boxes[2], [0.445 + 0.2 * tile_w, 0.44 + 0.2 * tile_h, 0.445 + 0.4 * tile_w,
                                          0.44 + 0.4 * tile_h], atol=1e-6)
    assert tiles.tiled_outputs(run, image, 2)[1].tolist() == pytest.approx([0.9, 0.8])  # at most max_detections
    # Without the two rules, the cut box and the part stay.
    assert len(tiles.tiled_outputs(run, image, 300, edge=-1.0, inside=2.0)[0]) == 5
