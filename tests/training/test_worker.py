"""Training through a REAL Celery worker process (tests/worker.py) on the embedded (filesystem) broker.

The worker shares the test database, broker folder and media; the test drives the real services in-process
(``transaction.on_commit`` publishes at once) and reads progress through the ORM.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest
from django.urls import reverse

from tests.factories import DATASETS
from tests.training.builders import dataset_project
from tests.worker import Worker, broker_queue_folder, celery_worker, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

QUICKSTART = DATASETS / "azure-quickstart" / "classification"


def _queue(project: Any, **kw: Any) -> Any:
    from training.services import iteration_queue

    return iteration_queue(project=project, requested_by=project.created_by, **kw)


def _wait(iteration: Any, predicate: Any, timeout: float, what: str, worker: Worker | None = None) -> Any:
    """Poll the iteration until ``predicate(iteration)``; returns it fresh from the database."""
    seen: list[tuple[float, str]] = []

    def reached() -> Any:
        iteration.refresh_from_db()
        seen.append((round(iteration.progress, 2), iteration.stage))
        return iteration if predicate(iteration) else None

    def describe() -> str:
        return f"{what}; seen: {seen[-10:]}" + (f"\n{worker.log()[-3000:]}" if worker else "")

    return wait_for(reached, timeout=timeout, interval=0.2, describe=describe)


def _running(it: Any) -> bool:
    return it.status == "Training" and it.started is not None


def _done(it: Any) -> bool:
    return it.status != "Training"


def test_restarted_worker_never_runs_a_cancelled_or_failed_job(owner, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Messages left in the broker (or redelivered) for jobs that ended meanwhile are skipped, never run."""
    from training.models import Iteration
    from training.services import iteration_cancel

    first = dataset_project(owner, QUICKSTART, name="First")
    second = dataset_project(owner, QUICKSTART, name="Second")
    queue = broker_queue_folder()
    before = set(queue.iterdir()) if queue.exists() else set()
    cancelled = _queue(first)  # no worker yet: the message waits in the broker folder
    iteration_cancel(iteration=cancelled)
    failed = _queue(second)
    # A job the reaper already failed whose message comes round again (as Redis redelivers unacked messages).
    Iteration.objects.filter(id=failed.id).update(status="Failed", error="Worker lost: test")
    ours = set(queue.iterdir()) - before
    assert len(ours) == 2
    with celery_worker(data_dir=tmp_path, hostname="w1") as worker:
        skipped = [f"iteration {it.id} is not queued any more; skipping" for it in (cancelled, failed)]
        wait_for(lambda: all(line in worker.log() for line in skipped), describe=lambda: worker.log()[-3000:])
    assert not ours & set(queue.iterdir())
    cancelled.refresh_from_db()
    assert cancelled.status == "Cancelled" and cancelled.started is None
    failed.refresh_from_db()
    assert failed.status == "Failed" and failed.error == "Worker lost: test" and failed.started is None


def test_quickstart_trains_to_completed_with_per_tag_metrics_rendered(owner, owner_client, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from django.core.files.storage import default_storage

    project = dataset_project(owner, QUICKSTART, name="Trees")
    with celery_worker(data_dir=tmp_path, hostname="w1") as worker:
        iteration = _queue(project)
        progress: list[float] = []
        _wait(iteration, lambda it: progress.append(it.progress) or _done(it), 240, "training done", worker)
    assert iteration.status == "Completed", iteration.error
    assert iteration.metrics and iteration.worker_hostname.startswith("w1@")
    assert len(set(progress)) >= 3, progress  # the bar moved through several values
    html = owner_client.get(reverse("training:iteration-detail", args=[iteration.id])).content.decode()
    rows = [row["tag"] for row in iteration.metrics["per_tag"]]
    assert sorted(rows) == ["Hemlock", "Japanese Cherry"]
    for tag in rows:
        assert f'data-tag="{tag}"' in html
    assert 'id="overall-precision"' in html and iteration.artifact_path
    if iteration.artifact_kind == "file":
        assert default_storage.exists(iteration.artifact_path)


def test_cancel_really_stops_the_workers_job(owner, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from training.services import iteration_cancel

    project = dataset_project(owner, QUICKSTART, name="Trees")
    with celery_worker(data_dir=tmp_path, hostname="w1") as worker:
        iteration = _queue(project, training_type="Advanced", budget_minutes=10)
        _wait(iteration, lambda it: _running(it) and it.progress > 0.05, 120, "running", worker)
        iteration_cancel(iteration=iteration)
        state = _wait(iteration, lambda it: "worker stopped" in it.stage, 60, "worker stopped", worker)
        assert state.status == "Cancelled"  # how soon: benchmarks/train_click.py (cancel→stopped)
        # The worker is free again: the next training runs (a different type, so it counts as new).
        nxt = _queue(project)
        assert _wait(nxt, _done, 240, "next training done", worker).status == "Completed"
        assert worker.alive()


def test_sigkilled_worker_is_failed_as_lost_and_training_can_start_again(owner, owner_client, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from training.tasks import train_iteration

    project = dataset_project(owner, QUICKSTART, name="Trees")
    with celery_worker(data_dir=tmp_path, hostname="w1") as worker:
        iteration = _queue(project, training_type="Advanced", budget_minutes=10)
        _wait(iteration, _running, 120, "running", worker)
        worker.kill()
    # No worker is alive, so the page the user is watching does the reaping (status polling view).
    # How soon: benchmarks/train_click.py (SIGKILL→lost).
    status_url = reverse("training:iteration-status", args=[iteration.id])
    wait_for(lambda: owner_client.get(status_url, HTTP_HX_REQUEST="true").status_code == 286, timeout=120,
             interval=2)
    iteration.refresh_from_db()
    assert iteration.status == "Failed" and iteration.error.startswith("Worker lost"), iteration.error
    # A new worker; the same message redelivered must not run the failed job again, and a new training runs.
    train_iteration.apply_async(args=[str(iteration.id)], queue="training")
    with celery_worker(data_dir=tmp_path, hostname="w2") as worker:
        again = _queue(project, force=True)
        assert _wait(again, _done, 240, "new training done", worker).status == "Completed"
        assert f"iteration {iteration.id} is not queued any more; skipping" in worker.log()
    iteration.refresh_from_db()
    assert iteration.status == "Failed"


def test_killed_pool_process_is_reaped_by_its_own_worker(owner, tmp_path) -> None:  # type: ignore[no-untyped-def]
    project = dataset_project(owner, QUICKSTART, name="Trees")
    with celery_worker(data_dir=tmp_path, hostname="w1") as worker:
        iteration = _queue(project, training_type="Advanced", budget_minutes=10)
        _wait(iteration, _running, 120, "running", worker)
        os.kill(iteration.worker_pid, signal.SIGKILL)
        state = _wait(iteration, _done, 30, "reaped by the worker's heartbeat", worker)
        assert state.status == "Failed" and "Worker lost" in state.error
        assert worker.alive()  # the worker itself lives on and takes the next job
        again = _queue(project, force=True)
        assert _wait(again, _done, 240, "next training done", worker).status == "Completed"


def test_lost_worker_is_seen_through_the_api_and_training_can_start_again(owner, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """With no worker (and no portal page) alive, get_iteration itself notices the lost worker (issue #11.2):
    Failed with the reason within 60 s of the death, and a new training is accepted and waits in the queue."""
    from django.test import Client

    from training.models import Iteration
    from workspaces.services import personal_keys

    project = dataset_project(owner, QUICKSTART, name="Trees")
    api = Client(HTTP_TRAINING_KEY=personal_keys(user=owner).training_key)
    base = f"/customvision/v3.3/training/projects/{project.id}"
    with celery_worker(data_dir=tmp_path, hostname="w1") as worker:
        iteration = _queue(project, training_type="Advanced", budget_minutes=10)
        _wait(iteration, _running, 120, "running", worker)
        worker.kill()  # the machine is gone: main process and pool child at once
    body = wait_for(lambda: (b := api.get(f"{base}/iterations/{iteration.id}").json())["status"] != "Training" and b,
                    timeout=60, interval=2, describe=lambda: "still Training 60 s after the worker died")
    assert body["status"] == "Failed" and body["trainingErrorDetails"].startswith("Worker lost"), body
    assert [i["status"] for i in api.get(f"{base}/iterations").json() if i["id"] == str(iteration.id)] == ["Failed"]
    response = api.post(f"{base}/train", data="", content_type="application/json")
    again = response.json()
    assert response.status_code == 200 and again["status"] == "Training", again
    queued = Iteration.objects.get(id=again["id"])
    assert queued.started is None
    with celery_worker(data_dir=tmp_path, hostname="w2") as worker:
        assert _wait(queued, _done, 240, "new training done", worker).status == "Completed"
    iteration.refresh_from_db()
    assert iteration.status == "Failed"
