"""labeling.geometry: validating and snapping normalised boxes (the browser's box arithmetic: tests/js/)."""

from __future__ import annotations

import math

import pytest

from labeling import geometry
from labeling.geometry import Box


def test_a_box_inside_the_image_has_no_problem():
    assert geometry.box_problem(0.1, 0.2, 0.3, 0.4) is None
    assert geometry.box_problem(0, 0, 1, 1) is None


def test_browser_float_noise_at_the_edge_is_accepted_and_clipped():
    assert geometry.box_problem(0.1, 0.0, 0.9000000000000001, 1.0) is None
    box = geometry.normalise(-1e-9, 0.5, 1.0, 0.5000000001)
    assert box.left == 0.0 and box.top == 0.5 and box.left + box.width <= 1.0 and box.top + box.height == 1.0
    assert box.width == pytest.approx(1.0) and box.height == 0.5


def test_rounded_coordinates_just_past_the_edge_are_clipped_not_refused():
    assert geometry.box_problem(0.6667, 0.5, 0.3337, 0.2) is None  # 4-decimal rounding: right edge at 1.0004
    assert geometry.normalise(0.6667, 0.5, 0.3337, 0.2) == Box(0.6667, 0.5, 1.0 - 0.6667, 0.2)
    assert geometry.box_problem(-0.0005, 0.1, 0.2, 0.2) is None
    assert geometry.normalise(-0.0005, 0.1, 0.2, 0.2).width == pytest.approx(0.1995)
    assert "inside the image" in geometry.box_problem(0.5, 0.5, 0.5 + 2e-3, 0.2)
    assert "inside the image" in geometry.box_problem(1.0005, 0.1, 1e-4, 0.2)  # nothing of it inside


@pytest.mark.parametrize(
    "box",
    [
        (0.5, 0.5, 0.5 + 0.9e-3, 0.2),  # right edge just inside the tolerance
        (0.5, 0.5, 0.5 + 1.1e-3, 0.2),  # just past it
        (-0.9e-3, 0.1, 0.3, 0.3),
        (-1.1e-3, 0.1, 0.3, 0.3),
        (0.1, 0.9, 0.2, 0.1 + 0.5e-3),
        (1.0002, 0.1, 1e-4, 0.2),  # within the tolerance but nothing inside
    ],
)
def test_the_ml_loader_takes_exactly_the_boxes_labeling_takes_and_clips_them_alike(box):
    """training.ml cannot import labeling; its own check must keep the same contract (tolerance and clipping)."""
    pytest.importorskip("torch")
    from training.ml import errors
    from training.ml.detection import data
    from training.ml.manifest import Box as MlBox
    from training.ml.manifest import Sample

    assert data.BOX_TOLERANCE == geometry.EDGE_TOLERANCE
    sample = Sample(id="x", path="x.jpg", boxes=(MlBox("a", *box),))
    if geometry.box_problem(*box) is not None:
        with pytest.raises(errors.InvalidRegion):
            data.sample_target(sample, ("a",))
        return
    x0, y0, x1, y1 = data.sample_target(sample, ("a",)).boxes[0].tolist()
    ours = geometry.normalise(*box)
    expected = (ours.left, ours.top, ours.left + ours.width, ours.top + ours.height)
    assert (x0, y0, x1, y1) == pytest.approx(expected, abs=1e-7)


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


def test_pixels_of_a_box():
    box = Box(0.25, 0.5, 0.5, 0.25)
    assert geometry.to_pixels(box, 4000, 3000) == (1000, 1500, 2000, 750)


def test_same_box_tolerates_float_noise_only():
    a = Box(0.1, 0.2, 0.3, 0.4)
    assert geometry.same_box(a, Box(0.1 + 1e-9, 0.2, 0.3, 0.4))
    assert not geometry.same_box(a, Box(0.11, 0.2, 0.3, 0.4))


def test_geometry_imports_no_django():
    import subprocess
    import sys

    code = "import sys, labeling.geometry; assert not any(m.startswith('django') for m in sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True)
