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


@pytest.mark.django_db
def test_progress_counts_alone_never_force_a_write(owner) -> None:  # type: ignore[no-untyped-def]
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.training.builders import tagged_project
    from training.services import iteration_queue
    from training.services.run import _Progress

    iteration = iteration_queue(project=tagged_project(owner), requested_by=owner)
    progress = _Progress(iteration.id)
    with CaptureQueriesContext(connection) as queries:
        for n in range(1, 201):  # a fast embedding loop: 200 images within the throttle
            progress(n / 1000, f"embedding images {n}/1000")
        progress(0.8, "evaluating")  # a new stage is written at once
    writes = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("UPDATE")]
    assert len(writes) == 2
    iteration.refresh_from_db()
    assert iteration.stage == "evaluating" and iteration.progress == pytest.approx(0.05 + 0.9 * 0.8)
