"""Progress and cancellation callbacks shared by every trainer, and the phased progress of detection.

The engine reports ``progress(fraction, stage)``: ``fraction`` in 0..1 over the whole run, and a
one-line ``stage`` text, ``"<phase>: <detail>"`` when the run has phases (e.g. ``"Fold 2 of 3 (16
train / 8 validation images): training the head, epoch 5 of 36"``). The portal estimates the time
left as ``elapsed * (1 - fraction) / fraction``, so :class:`PhasedProgress` makes the fraction
proportional to time rather than to the number of phases.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from training.ml.errors import Cancelled

Progress = Callable[[float, str], None]  # (overall fraction 0..1, stage text)
Cancel = Callable[[], bool]  # polled often; True stops training with errors.Cancelled
StepReport = Callable[[int, int, str], None]  # (units done, units planned, detail) within one phase

# A kind of unit not run yet is expected to cost this much more than its scaled prior: the fraction
# never goes back, so an estimate that is too short would have to stall the bar while the time
# left grows (the complaint this class answers); one too long only shrinks faster than the clock.
UNMEASURED_MARGIN = 1.25
# Measured costs are averaged over about the last two minutes of work: on a shared worker the
# machine speeds up and slows down as other jobs come and go, and the estimate should follow.
RECENT_SECONDS = 120.0


def check_cancel(should_cancel: Cancel | None) -> None:
    """Raise ``errors.Cancelled`` when ``should_cancel`` says so."""
    if should_cancel is not None and should_cancel():
        raise Cancelled("Training was cancelled.")


@dataclass
class Phase:
    """One planned part of a run.

    Attributes:
        key: how the trainer names it ("features", "fold1.head", "final.head", ...).
        label: what the user reads before the detail ("Fold 2 of 3 (16 train / 8 validation images)").
        kind: its unit ("view", "head_step", ...): phases of one kind share a measured cost per unit.
        units: units planned (updated by every report's ``total``).
        max_seconds: a time cap (budgeted fine-tuning), or None.
    """

    key: str
    label: str
    kind: str
    units: float
    max_seconds: float | None = None
    done: float = 0.0
    seconds: float = 0.0
    started: float | None = None
    finished: bool = False


class PhasedProgress:
    """One overall fraction, proportional to time, over a plan of phases.

    Each kind of unit (a feature view, a head-training step, ...) has a prior cost in seconds. Once
    units of a kind have run, their measured cost (averaged over about RECENT_SECONDS) replaces the
    prior; kinds not yet run have their prior scaled by how much slower or faster than the priors
    this machine has been so far, times UNMEASURED_MARGIN. The fraction reported is
    ``elapsed / (elapsed + expected remaining)``, never decreasing, so the portal's
    ``elapsed * (1 - f) / f`` is the engine's own estimate of the time left.
    """

    def __init__(
        self,
        progress: Progress | None,
        should_cancel: Cancel | None,
        phases: Sequence[Phase],
        unit_seconds: Mapping[str, float],
        *,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.progress = progress
        self.should_cancel = should_cancel
        self.phases = {p.key: p for p in phases}
        self.unit_seconds = dict(unit_seconds)
        self.clock = clock
        self.t0 = clock()
        self.current: Phase | None = None
        self.fraction = 0.0
        self.recent: dict[str, tuple[float, float]] = {}  # kind -> (seconds, units), decayed sums

    def start(self, key: str, detail: str | None = None) -> StepReport:
        """Finish the current phase, start ``key``, report it, and return its step reporter."""
        check_cancel(self.should_cancel)
        self._close()
        phase = self.phases[key]
        phase.started = self.clock()
        self.current = phase
        self._emit(phase, detail)

        def report(done: int, total: int, detail: str) -> None:
            self.report(phase, done, total, detail)

        return report

    def report(self, phase: Phase, done: int, total: int, detail: str) -> None:
        """``done`` of ``total`` units of ``phase`` are done (checks for cancellation first)."""
        check_cancel(self.should_cancel)
        self._measure(phase, float(done))
        phase.units = float(total)
        self._emit(phase, detail)

    def replan(self, key: str, *, units: float | None = None, max_seconds: float | None = None) -> None:
        """Change a phase not yet run: its planned units and/or its time cap."""
        phase = self.phases[key]
        if units is not None:
            phase.units = units
        if max_seconds is not None:
            phase.max_seconds = max_seconds

    def skip(self, key: str) -> None:
        """Drop a planned phase that will not run (e.g. the final fine-tuning when quick won)."""
        phase = self.phases[key]
        phase.units, phase.finished = 0.0, True

    def finish(self, text: str = "Done") -> None:
        """The run is over: report 1.0."""
        self._close()
        self.fraction = 1.0
        if self.progress is not None:
            self.progress(1.0, text)

    def remaining_seconds(self) -> float:
        """Expected seconds left in the unfinished phases."""
        rates = self._rates()
        left = 0.0
        for p in self.phases.values():
            if p.finished:
                continue
            secs = max(p.units - p.done, 0.0) * rates[p.kind]
            if p.max_seconds is not None:
                secs = min(secs, max(p.max_seconds - p.seconds, 0.0))
            left += secs
        return left

    def _rates(self) -> dict[str, float]:
        """Seconds per unit of every kind: measured (recently) where units ran, else the prior scaled."""
        spent: dict[str, float] = {}
        units: dict[str, float] = {}
        for p in self.phases.values():
            if p.done > 0:
                spent[p.kind] = spent.get(p.kind, 0.0) + p.seconds
                units[p.kind] = units.get(p.kind, 0.0) + p.done
        expected = sum(units[k] * self.unit_seconds.get(k, 1.0) for k in units)
        speed = sum(spent.values()) / expected if expected > 0 and sum(spent.values()) > 0 else 1.0
        kinds = set(self.unit_seconds) | {p.kind for p in self.phases.values()}
        guess = speed * UNMEASURED_MARGIN
        prior = {k: self.unit_seconds.get(k, 1.0) * guess for k in kinds}
        return prior | {k: secs / units for k, (secs, units) in self.recent.items()}

    def _measure(self, phase: Phase, done: float) -> None:
        """Record that ``phase`` has ``done`` units done now; update its kind's recent cost."""
        if phase.started is None:
            return
        seconds = self.clock() - phase.started
        dt, du = seconds - phase.seconds, done - phase.done
        phase.seconds, phase.done = seconds, done
        if du <= 0:
            return
        # Sums of seconds and units, each older second of work weighing exp(-age / RECENT_SECONDS).
        secs, units = self.recent.get(phase.kind, (0.0, 0.0))
        decay = math.exp(-dt / RECENT_SECONDS)
        self.recent[phase.kind] = (secs * decay + dt, units * decay + du)

    def _close(self) -> None:
        phase = self.current
        if phase is not None and not phase.finished:
            self._measure(phase, max(phase.done, phase.units))
            phase.finished = True
        self.current = None

    def _emit(self, phase: Phase, detail: str | None) -> None:
        elapsed = self.clock() - self.t0
        remaining = self.remaining_seconds()
        total = elapsed + remaining
        fraction = elapsed / total if total > 0 else 0.0
        self.fraction = max(self.fraction, min(fraction, 0.99))
        if self.progress is not None:
            self.progress(self.fraction, phase.label if detail is None else f"{phase.label}: {detail}")
