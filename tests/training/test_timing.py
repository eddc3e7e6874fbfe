"""The time left shown while training: from the engine's own fraction, not the bar's 5..95 %."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from training.models import Iteration
from training.selectors import iteration_timing


def _training(*, seconds: float, engine_fraction: float) -> Iteration:
    # services._Progress writes 0.05 + 0.9 * the engine's fraction.
    return Iteration(
        status=Iteration.Status.TRAINING,
        started=timezone.now() - timedelta(seconds=seconds),
        progress=0.05 + 0.9 * engine_fraction,
    )


def test_time_left_follows_the_engines_fraction() -> None:
    # A quarter of the engine's work took 100 s: 300 s are left (the bar's 27.5 % would say 264 s).
    timing = iteration_timing(iteration=_training(seconds=100, engine_fraction=0.25))
    assert timing["elapsed"] == pytest.approx(100, abs=1)
    assert timing["remaining"] == pytest.approx(300, abs=3)


@pytest.mark.parametrize("engine_fraction", [0.0, 0.02, 1.0])
def test_no_estimate_before_the_engine_has_measured_anything_or_while_saving(engine_fraction: float) -> None:
    assert iteration_timing(iteration=_training(seconds=30, engine_fraction=engine_fraction))["remaining"] is None
