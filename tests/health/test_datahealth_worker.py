"""Data Health through a REAL Celery worker (tests/worker.py): a training of a project with injected faults
completes, the training.completed listener queues a check, the worker runs it, and the findings are stored; a
later check gives way to a training queued behind it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.health.datahealth_faults import faulty_project
from tests.worker import celery_worker, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_a_completed_training_is_followed_by_a_check_that_finds_the_faults_and_gives_way_to_the_next(  # type: ignore[no-untyped-def]
        owner, tmp_path: Path) -> None:
    from django.conf import settings

    from health.datahealth_models import DataHealthRun
    from training.services import iteration_queue

    faults = faulty_project(owner)
    with celery_worker(data_dir=Path(settings.DATA_DIR)) as worker:
        iteration = iteration_queue(project=faults.project, requested_by=owner)

        def checked() -> DataHealthRun | None:
            return DataHealthRun.objects.filter(project=faults.project, status__in=["Completed", "Failed"]).first()

        run = wait_for(checked, timeout=600, interval=1.0, describe=lambda: worker.log()[-4000:])
        _the_findings_are_stored(faults, iteration, run)
        _a_check_gives_way_to_a_training_queued_behind_it(owner, faults.project, worker)


def _the_findings_are_stored(faults, iteration, run) -> None:  # type: ignore[no-untyped-def]
    iteration.refresh_from_db()
    assert iteration.status == "Completed", iteration.error
    assert run.status == "Completed", run.error
    assert run.iteration_id == iteration.id and run.summary["iteration_id"] == str(iteration.id)
    findings = list(run.findings.all())
    clusters = [set(f.image_ids) for f in findings if f.kind == "duplicate"]
    for original, copy in faults.copies:
        assert any({str(original.id), str(copy.id)} <= c for c in clusters), clusters
    suspects = sorted((f for f in findings if f.kind == "mislabel"), key=lambda f: -f.score)
    assert {str(i.id) for i in faults.flipped} <= {f.image_ids[0] for f in suspects[:4]}
    # Leakage follows the iteration's own (seeded, id-ordered) k-fold split: whatever it is, the stored count
    # matches the pairs it put in different folds.
    from health.datahealth import split_folds

    folds = split_folds(iteration=iteration, image_ids=[str(i.id) for pair in faults.copies for i in pair])
    apart = sum(1 for k in range(0, len(folds), 2) if folds[k] != folds[k + 1])
    assert run.summary["leakage"] == apart


def _a_check_gives_way_to_a_training_queued_behind_it(owner, project, worker) -> None:  # type: ignore[no-untyped-def]
    """A "Re-check" and then a training, sent in that order to the worker's one queue: the check sees the training
    waiting and gives way (Queued again, sent again a few seconds later), so the training starts first; the check
    then runs and completes, and the training's own completion adds no second check."""
    from django.db import transaction

    from health.datahealth import datahealth_queue
    from health.datahealth_models import DataHealthRun
    from training.services import iteration_queue

    with transaction.atomic():  # both rows exist before either task is sent: the check's message goes first
        run = datahealth_queue(project=project, requested_by=owner)
        # The embedded broker orders messages by their millisecond, then by a random id: two sent within one
        # millisecond could swap, and the training would simply run first (nothing to give way to).
        transaction.on_commit(lambda: time.sleep(0.005))
        iteration = iteration_queue(project=project, requested_by=owner, force=True)

    def done() -> DataHealthRun | None:
        latest = DataHealthRun.objects.filter(id=run.id, status__in=["Completed", "Failed"]).first()
        iteration.refresh_from_db()
        return latest if latest and iteration.status == "Completed" else None

    run = wait_for(done, timeout=600, interval=1.0, describe=lambda: worker.log()[-4000:])
    assert run.status == "Completed", run.error
    assert iteration.started is not None and run.started is not None and iteration.started < run.started
    assert "gives way to a queued training" in worker.log()
    assert DataHealthRun.objects.filter(project=project).count() == 1  # older results go; no second check
