"""PhasedProgress: an overall fraction proportional to time, phase labels, cancellation."""

from __future__ import annotations

import pytest

from training.ml import errors
from training.ml.progress import UNMEASURED_MARGIN, Phase, PhasedProgress


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _run(
    phases: list[Phase], priors: dict[str, float], true_cost: dict[str, float], slower: dict[str, float] | None = None
):
    """Play the phases with ``true_cost`` seconds per unit (times ``slower[key]`` in phase ``key``);
    returns [(t, fraction, stage)] and the end time."""
    clock = Clock()
    seen: list[tuple[float, float, str]] = []
    tracker = PhasedProgress(lambda f, s: seen.append((clock.now, f, s)), None, phases, priors, clock=clock)
    plan = [(p.key, p.kind, int(p.units)) for p in phases]
    for key, kind, units in plan:
        report = tracker.start(key, "starting")
        for done in range(1, units + 1):
            clock.now += true_cost[kind] * (slower or {}).get(key, 1.0)
            report(done, units, f"{done} of {units}")
    tracker.finish()
    return seen, clock.now


def _phases() -> list[Phase]:
    return [
        Phase("features", "Computing features", "view", 40),
        Phase("fold1.head", "Fold 1 of 3", "head_step", 30),
        Phase("fold2.head", "Fold 2 of 3", "head_step", 30),
        Phase("fold3.head", "Fold 3 of 3", "head_step", 30),
        Phase("final.head", "Final training on all 12 images", "head_step", 30),
    ]


def test_the_estimate_is_honest_once_each_kind_has_run_and_never_grows() -> None:
    # The priors say a head step costs 2 views; on this machine it costs 2.4, and everything is 3x
    # slower. (Weighting phases equally, as before, promised a fifth of the run after the features.)
    seen, end = _run(_phases(), {"view": 1.0, "head_step": 2.0}, {"view": 3.0, "head_step": 7.2})
    fractions = [f for _, f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert [s for _, _, s in seen if s.endswith("starting")] == [
        "Computing features: starting",
        "Fold 1 of 3: starting",
        "Fold 2 of 3: starting",
        "Fold 3 of 3: starting",
        "Final training on all 12 images: starting",
    ]
    first_step = next(i for i, (_, _, s) in enumerate(seen) if s == "Fold 1 of 3: 1 of 30")
    checked = 0
    for t, f, stage in seen[first_step:]:
        if f < 0.99:
            # elapsed * (1 - f) / f is what the portal shows as "about N left".
            assert t * (1 - f) / f == pytest.approx(end - t, rel=1e-6), stage
            checked += 1
    assert checked > 100


def test_the_estimate_follows_the_machine_when_other_jobs_finish() -> None:
    # The first fold runs on a machine twice as busy; from the second fold on the estimate forgets it.
    phases = _phases()
    seen, end = _run(phases, {"view": 1.0, "head_step": 2.0}, {"view": 3.0, "head_step": 7.5}, {"fold1.head": 2.0})
    final = [(t, f) for t, f, s in seen if s.startswith("Final training") and f < 0.99]
    assert final and all(t * (1 - f) / f == pytest.approx(end - t, rel=0.05) for t, f in final[-10:])


def test_a_prior_far_too_short_stalls_the_fraction_but_never_moves_it_back() -> None:
    seen, _ = _run(_phases(), {"view": 1.0, "head_step": 2.0}, {"view": 3.0, "head_step": 60.0})
    fractions = [f for _, f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0


def test_unmeasured_kinds_use_their_prior_scaled_to_the_machine() -> None:
    clock = Clock()
    tracker = PhasedProgress(None, None, _phases(), {"view": 1.0, "head_step": 2.0}, clock=clock)
    report = tracker.start("features")
    clock.now = 40 * 3.0  # the machine is 3x slower than the priors
    report(40, 40, "40 of 40 views")
    assert tracker.remaining_seconds() == pytest.approx(4 * 30 * 2.0 * 3.0 * UNMEASURED_MARGIN)


def test_stage_text_names_the_phase_and_a_capped_phase_counts_only_its_budget() -> None:
    clock = Clock()
    seen: list[str] = []
    phases = [
        Phase("fold1.finetune", "Fold 1 of 2 (8 train / 4 validation images)", "finetune_step", 1000, max_seconds=60),
        Phase("save", "Saving the model", "save", 1),
    ]
    tracker = PhasedProgress(
        lambda f, s: seen.append(s), None, phases, {"finetune_step": 1.0, "save": 5.0}, clock=clock
    )
    report = tracker.start("fold1.finetune", "fine-tuning")
    clock.now = 10.0
    report(10, 1000, "fine-tuning, step 10 of 1000")
    assert tracker.remaining_seconds() == pytest.approx(50.0 + 5.0 * UNMEASURED_MARGIN)
    assert seen == [
        "Fold 1 of 2 (8 train / 4 validation images): fine-tuning",
        "Fold 1 of 2 (8 train / 4 validation images): fine-tuning, step 10 of 1000",
    ]
    tracker.skip("save")
    assert tracker.remaining_seconds() == pytest.approx(50.0)


def test_reports_raise_cancelled() -> None:
    tracker = PhasedProgress(None, lambda: True, _phases(), {})
    with pytest.raises(errors.Cancelled):
        tracker.start("features")
