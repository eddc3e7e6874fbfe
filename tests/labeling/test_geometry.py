"""labeling.geometry: pure box arithmetic in normalised coordinates."""

from __future__ import annotations

import math

import pytest

from labeling import geometry
from labeling.geometry import Box


def test_a_box_inside_the_image_has_no_problem():
    assert geometry.box_problem(0.1, 0.2, 0.3, 0.4) is None
    assert geometry.box_problem(0, 0, 1, 1) is None


def test_browser_float_noise_at_the_edge_is_accepted_and_snapped():
    assert geometry.box_problem(0.1, 0.0, 0.9000000000000001, 1.0) is None
    box = geometry.normalise(-1e-9, 0.5, 1.0, 0.5000000001)
    assert box == Box(0.0, 0.5, 1.0, 0.5)


@pytest.mark.parametrize(
    ("left", "top", "width", "height", "words"),
    [
        (0.1, 0.1, 0, 0.2, "greater than 0"),
        (0.1, 0.1, 0.2, -0.1, "greater than 0"),
        (-0.2, 0.1, 0.2, 0.2, "at least 0"),
        (0.5, 0.1, 0.6, 0.2, "inside the image"),
        (0.1, 0.9, 0.2, 0.2, "inside the image"),
        (1.5, 0.1, 0.2, 0.2, "inside the image"),
        (math.nan, 0.1, 0.2, 0.2, "finite"),
        (0.1, math.inf, 0.2, 0.2, "finite"),
    ],
)
def test_bad_boxes_are_explained(left, top, width, height, words):
    assert words in geometry.box_problem(left, top, width, height)


def test_a_drag_in_any_direction_spans_the_same_box():
    forward = geometry.box_from_points(0.2, 0.3, 0.6, 0.7)
    backward = geometry.box_from_points(0.6, 0.7, 0.2, 0.3)
    assert forward == backward
    assert forward.left == pytest.approx(0.2) and forward.width == pytest.approx(0.4)


def test_a_drag_past_the_edges_is_clamped_to_the_image():
    box = geometry.box_from_points(-0.3, 0.5, 1.4, 1.2)
    assert box == Box(0.0, 0.5, 1.0, 0.5)


def test_clamp_of_a_box_entirely_outside_has_zero_size():
    box = geometry.clamp_box(Box(1.2, 0.1, 0.3, 0.3))
    assert box.width == 0


def test_moving_keeps_the_size_and_stops_at_the_edges():
    box = Box(0.6, 0.6, 0.3, 0.2)
    moved = geometry.move_box(box, 0.5, -1.0)
    assert moved.width == 0.3 and moved.height == 0.2
    assert moved.right == pytest.approx(1.0) and moved.top == 0.0


def test_pixels_round_trip():
    box = Box(0.25, 0.5, 0.5, 0.25)
    x, y, w, h = geometry.to_pixels(box, 4000, 3000)
    assert (x, y, w, h) == (1000, 1500, 2000, 750)
    assert geometry.from_pixels(x, y, w, h, 4000, 3000) == box


def test_boxes_under_two_pixels_are_too_small():
    assert geometry.is_too_small(Box(0.1, 0.1, 1.5 / 800, 0.1), 800, 600)
    assert geometry.is_too_small(Box(0.1, 0.1, 0.1, 1 / 600), 800, 600)
    assert not geometry.is_too_small(Box(0.1, 0.1, 2 / 800, 2 / 600), 800, 600)


def test_same_box_tolerates_float_noise_only():
    a = Box(0.1, 0.2, 0.3, 0.4)
    assert geometry.same_box(a, Box(0.1 + 1e-9, 0.2, 0.3, 0.4))
    assert not geometry.same_box(a, Box(0.11, 0.2, 0.3, 0.4))


def test_geometry_imports_no_django():
    import subprocess
    import sys

    code = "import sys, labeling.geometry; assert not any(m.startswith('django') for m in sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True)
