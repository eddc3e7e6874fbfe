"""Progress and cancellation callbacks shared by every trainer."""

from __future__ import annotations

from collections.abc import Callable

from training.ml.errors import Cancelled

Progress = Callable[[float, str], None]  # (overall fraction 0..1, stage text)
Cancel = Callable[[], bool]  # polled often; True stops training with errors.Cancelled


def check_cancel(should_cancel: Cancel | None) -> None:
    """Raise ``errors.Cancelled`` when ``should_cancel`` says so."""
    if should_cancel is not None and should_cancel():
        raise Cancelled("Training was cancelled.")

StepReport = Callable[[int, int, str], None]  # (units done, units planned, detail) within one phase
