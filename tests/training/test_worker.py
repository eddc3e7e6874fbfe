"""Training through a REAL Celery worker process on the embedded (filesystem) broker.

How the test and the worker share a database: pytest-django's test database is in-memory and private to
the test process, so these tests do not use it. Each test gets a fresh TAGSIGHT_DATA_DIR (a tmp dir) and a
file SQLite database inside it (DATABASE_URL); ``manage.py migrate`` creates it, the worker is started
with the same environment, and the test drives the real services in short ``python -c`` subprocesses with
that environment too (``_django``). It reads progress straight from the SQLite file with ``sqlite3``.
Broker folders, media and caches all live under the tmp DATA_DIR, so nothing leaks between tests.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.factories import DATASETS

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

pytestmark = [pytest.mark.worker, pytest.mark.slow]


def _engine_ready() -> bool:
    try:
        from training.ml import train  # noqa: F401
    except ImportError:
        return False
    return True


needs_engine = pytest.mark.skipif(not _engine_ready(), reason="training.ml.train is not in the tree yet")

PRELUDE = """
import json, os, sys
import django
django.setup()
from django.contrib.auth import get_user_model
from projects.models import Project
from training.models import Iteration
from training import services
"""


class Env:
    """One isolated Tagsight installation: data dir, SQLite file, broker folders, worker processes."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.db = root / "tagsight.sqlite3"
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "TAGSIGHT_DATA_DIR": str(root),
            "DATABASE_URL": f"sqlite:///{self.db}",
            "MEDIA_ROOT": str(root / "media"),
            "CELERY_BROKER_URL": "filesystem://",
            "TAGSIGHT_MIN_IMAGES_PER_TAG": "5",
            "PYTHONPATH": str(ROOT),
            # Pages rendered by the driver need no collectstatic manifest.
            "STATICFILES_STORAGE_BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage",
        }
        self.workers: list[tuple[subprocess.Popen[bytes], Path]] = []

    def django(self, code: str) -> Any:
        """Run ``code`` (which sets ``result``) in a fresh Django process on this installation's database."""
        script = PRELUDE + code + "\nprint('@@' + json.dumps(result, default=str))\n"
        out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=self.env, capture_output=True,
                             text=True, timeout=300)
        assert out.returncode == 0, out.stderr[-4000:]
        line = [ln for ln in out.stdout.splitlines() if ln.startswith("@@")][-1]
        return json.loads(line[2:])

    def start_worker(self, name: str = "w1") -> subprocess.Popen[bytes]:
        log = self.root / f"worker-{name}-{len(self.workers)}.log"
        proc = subprocess.Popen(
            [str(BIN / "celery"), "-A", "portal", "worker", "-Q", "training,default", "-c", "1", "-P", "prefork",
             "--hostname", f"{name}@test", "--loglevel", "INFO", "--without-gossip", "--without-mingle"],
            cwd=ROOT, env=self.env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
        )
        self.workers.append((proc, log))
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            row = self.query("SELECT pid FROM training_workerheartbeat WHERE hostname = ?", f"{name}@test")
            if row and row[0] == proc.pid:
                return proc
            assert proc.poll() is None, log.read_text()[-3000:]
            time.sleep(0.3)
        raise AssertionError("worker did not beat within 90 s:\n" + log.read_text()[-3000:])

    def log(self, proc: subprocess.Popen[bytes]) -> str:
        return next(log for p, log in self.workers if p is proc).read_text(errors="replace")

    def stop_all(self) -> None:
        for proc, _ in self.workers:
            if proc.poll() is None:
                proc.send_signal(signal.SIGQUIT)  # cold shutdown: the tests are over, nothing to finish
        for proc, _ in self.workers:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)

    def query(self, sql: str, *params: Any) -> tuple[Any, ...] | None:
        if not self.db.exists():
            return None
        con = sqlite3.connect(self.db, timeout=20)
        try:
            return con.execute(sql, params).fetchone()
        except sqlite3.OperationalError:  # table not created yet
            return None
        finally:
            con.close()

    def iteration(self, iteration_id: str) -> dict[str, Any]:
        row = self.query(
            "SELECT status, stage, progress, error, started, finished, worker_hostname, metrics IS NOT NULL, "
            "error_code FROM training_iteration WHERE id = ?", uuid.UUID(iteration_id).hex)
        assert row is not None
        keys = ("status", "stage", "progress", "error", "started", "finished", "worker", "has_metrics", "error_code")
        return dict(zip(keys, row, strict=True))

    def wait_for(self, iteration_id: str, predicate: Any, timeout: float, what: str) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        seen = []
        while time.monotonic() < deadline:
            state = self.iteration(iteration_id)
            seen.append((round(state["progress"], 2), state["stage"]))
            if predicate(state):
                return state
            time.sleep(0.2)
        raise AssertionError(f"{what} not reached in {timeout} s; last: {state}; seen: {seen[-10:]}")


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    e = Env(tmp_path)
    out = subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=e.env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    yield e
    e.stop_all()


SETUP_PROJECT = """
from tests.training.builders import dataset_project
from tests.factories import DATASETS
user, _ = get_user_model().objects.get_or_create(username="owner")
project = dataset_project(user, DATASETS / "azure-quickstart" / "classification", name=NAME)
result = str(project.id)
"""


def _project(env: Env, name: str = "Trees") -> str:
    return str(env.django(f"NAME = {name!r}\n" + SETUP_PROJECT))


def _queue(env: Env, project_id: str, **kw: Any) -> str:
    args = ", ".join(f"{k}={v!r}" for k, v in kw.items())
    return str(env.django(
        f"project = Project.objects.get(id={project_id!r})\n"
        f"result = str(services.iteration_queue(project=project, requested_by=project.owner, {args}).id)\n"
    ))


def _running(state: dict[str, Any]) -> bool:
    return state["status"] == "Training" and state["started"] is not None


def _done(state: dict[str, Any]) -> bool:
    return state["status"] != "Training"


def test_restarted_worker_never_runs_a_cancelled_or_failed_job(env: Env) -> None:
    """Messages left in the broker (or redelivered) for jobs that ended meanwhile are skipped, never run."""
    assert (DATASETS / "azure-quickstart" / "classification" / "manifest.json").exists()
    first, second = _project(env, "First"), _project(env, "Second")
    cancelled = _queue(env, first)  # no worker yet: the message waits in the broker folder
    env.django(f"it = Iteration.objects.get(id={cancelled!r}); services.iteration_cancel(iteration=it); result = 1")
    failed = _queue(env, second)
    # A job the reaper already failed whose message comes round again (as Redis redelivers unacked messages).
    env.django(
        f"Iteration.objects.filter(id={failed!r}).update(status='Failed', error='Worker lost: test'); result = 1"
    )
    assert len(list((env.root / "broker" / "queue").iterdir())) == 2
    worker = env.start_worker()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and env.log(worker).count("is not queued any more; skipping") < 2:
        time.sleep(0.3)
    assert env.log(worker).count("is not queued any more; skipping") == 2, env.log(worker)[-3000:]
    assert list((env.root / "broker" / "queue").iterdir()) == []
    assert env.iteration(cancelled)["status"] == "Cancelled" and env.iteration(cancelled)["started"] is None
    state = env.iteration(failed)
    assert state["status"] == "Failed" and state["error"] == "Worker lost: test" and state["started"] is None


@needs_engine
def test_quickstart_trains_to_completed_with_per_tag_metrics_rendered(env: Env) -> None:
    project = _project(env)
    env.start_worker()
    iteration = _queue(env, project)
    progress = []
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        state = env.iteration(iteration)
        progress.append(state["progress"])
        if _done(state):
            break
        time.sleep(0.1)
    assert state["status"] == "Completed", state
    assert state["has_metrics"] and state["worker"] == "w1@test"
    assert len(set(progress)) >= 3, progress  # the bar moved through several values
    page = env.django(f"""
from django.test import Client
from django.urls import reverse
it = Iteration.objects.get(id={iteration!r})
c = Client(); c.force_login(it.project.owner)
html = c.get(reverse("training:iteration-detail", args=[it.id])).content.decode()
rows = [r["tag"] for r in it.metrics["per_tag"]]
result = {{"rows": rows, "html": html, "artifact": it.artifact_path,
           "exists": __import__("django.core.files.storage", fromlist=["x"]).default_storage.exists(it.artifact_path)
                     if it.artifact_kind == "file" else True}}
""")
    assert sorted(page["rows"]) == ["Hemlock", "Japanese Cherry"]
    for tag in page["rows"]:
        assert f'data-tag="{tag}"' in page["html"]
    assert 'id="overall-precision"' in page["html"] and page["artifact"] and page["exists"]


@needs_engine
def test_cancel_really_stops_the_workers_job(env: Env) -> None:
    project = _project(env)
    worker = env.start_worker()
    iteration = _queue(env, project, training_type="Advanced", budget_minutes=10)
    env.wait_for(iteration, lambda s: _running(s) and s["progress"] > 0.05, 120, "running")
    cancelled_at = time.monotonic()
    env.django(f"services.iteration_cancel(iteration=Iteration.objects.get(id={iteration!r})); result = 1")
    state = env.wait_for(iteration, lambda s: "worker stopped" in s["stage"], 60, "worker stopped")
    assert state["status"] == "Cancelled"
    stopped_in = time.monotonic() - cancelled_at
    assert stopped_in < 30, stopped_in
    # The worker is free again: the next training runs (a different type, so it counts as new).
    nxt = _queue(env, project)
    assert env.wait_for(nxt, _done, 240, "next training done")["status"] == "Completed"
    assert worker.poll() is None


@needs_engine
def test_sigkilled_worker_is_failed_as_lost_within_60_s_and_training_can_start_again(env: Env) -> None:
    project = _project(env)
    worker = env.start_worker()
    iteration = _queue(env, project, training_type="Advanced", budget_minutes=10)
    env.wait_for(iteration, _running, 120, "running")
    os.killpg(worker.pid, signal.SIGKILL)  # the machine is gone: main process and pool child at once
    worker.wait(timeout=10)
    killed_at = time.monotonic()
    # No worker is alive, so the page the user is watching does the reaping (status polling view).
    poll_code = f"""
from django.test import Client
from django.urls import reverse
it = Iteration.objects.get(id={iteration!r})
c = Client(); c.force_login(it.project.owner)
r = c.get(reverse("training:iteration-status", args=[it.id]), HTTP_HX_REQUEST="true")
result = r.status_code
"""
    while time.monotonic() - killed_at < 75:
        if env.django(poll_code) == 286:
            break
        time.sleep(2)
    lost_after = time.monotonic() - killed_at
    print(f"worker lost: iteration failed {lost_after:.1f} s after SIGKILL")
    state = env.iteration(iteration)
    assert state["status"] == "Failed" and state["error"].startswith("Worker lost"), state
    assert lost_after <= 60, lost_after
    # A new worker; the same message redelivered must not run the failed job again, and a new training runs.
    env.django(f"""
from training.tasks import train_iteration
train_iteration.apply_async(args=[{iteration!r}], queue="training")
result = 1
""")
    env.start_worker("w2")
    again = _queue(env, project, force=True)
    assert env.wait_for(again, _done, 240, "new training done")["status"] == "Completed"
    assert env.iteration(iteration)["status"] == "Failed"


@needs_engine
def test_killed_pool_process_is_reaped_by_its_own_worker(env: Env) -> None:
    project = _project(env)
    worker = env.start_worker()
    iteration = _queue(env, project, training_type="Advanced", budget_minutes=10)
    env.wait_for(iteration, _running, 120, "running")
    child = env.query("SELECT worker_pid FROM training_iteration WHERE id = ?", uuid.UUID(iteration).hex)[0]
    os.kill(child, signal.SIGKILL)
    state = env.wait_for(iteration, _done, 30, "reaped by the worker's heartbeat")
    assert state["status"] == "Failed" and "Worker lost" in state["error"]
    assert worker.poll() is None  # the worker itself lives on and takes the next job
    again = _queue(env, project, force=True)
    assert env.wait_for(again, _done, 240, "next training done")["status"] == "Completed"


API = """
from django.test import Client
from projects.accounts import apikey_get_or_create
project = Project.objects.get(id={project!r})
api = Client(HTTP_TRAINING_KEY=apikey_get_or_create(user=project.owner).training_key)
base = "/customvision/v3.3/training/projects/" + str(project.id)
"""


def _api(env: Env, project_id: str, code: str) -> Any:
    """Run ``code`` with ``api`` (a client sending the project owner's Training-Key) and ``base`` (its URL)."""
    return env.django(API.format(project=project_id) + code)


@needs_engine
def test_lost_worker_is_seen_through_the_api_and_training_can_start_again(env: Env) -> None:
    """With no worker (and no portal page) alive, get_iteration itself notices the lost worker (issue #11.2)."""
    project = _project(env)
    worker = env.start_worker()
    iteration = _queue(env, project, training_type="Advanced", budget_minutes=10)
    env.wait_for(iteration, _running, 120, "running")
    os.killpg(worker.pid, signal.SIGKILL)  # the machine is gone: main process and pool child at once
    worker.wait(timeout=10)
    killed_at = time.monotonic()
    get_iteration = f"""
r = api.get(base + "/iterations/{iteration}")
result = [r.status_code, r.json()]
"""
    while True:
        status, body = _api(env, project, get_iteration)
        assert status == 200, body
        if body["status"] != "Training" or time.monotonic() - killed_at > 60:
            break
        time.sleep(2)
    assert body["status"] == "Failed", f"still {body['status']} 60 s after the worker died: {body}"
    assert body["trainingErrorDetails"].startswith("Worker lost"), body
    listed = _api(env, project, "result = api.get(base + '/iterations').json()")
    assert [i["status"] for i in listed if i["id"] == iteration] == ["Failed"]
    # No worker yet: train_project is accepted and the new iteration waits in the queue (Training, not started).
    status, again = _api(env, project, "r = api.post(base + '/train', data='', content_type='application/json'); result = [r.status_code, r.json()]")
    assert status == 200 and again["status"] == "Training", again
    state = env.iteration(again["id"])
    assert state["status"] == "Training" and state["started"] is None
    env.start_worker("w2")
    assert env.wait_for(again["id"], _done, 240, "new training done")["status"] == "Completed"
    assert env.iteration(iteration)["status"] == "Failed"
