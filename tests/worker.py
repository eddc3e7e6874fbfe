"""The one way tests start a real Celery worker process: it shares the test database, broker folder and media.

Tests that use it run with ``@pytest.mark.django_db(transaction=True)`` so the worker sees their rows, drive
the services in-process (``transaction.on_commit`` publishes at once) and read progress through the ORM.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def test_database_url() -> str:
    """A DATABASE_URL naming the database the test run uses (file SQLite or test_<name> on PostgreSQL)."""
    settings_dict = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{settings_dict['NAME']}"
    return (
        f"postgres://{settings_dict['USER']}:{settings_dict['PASSWORD']}@{settings_dict['HOST']}:"
        f"{settings_dict['PORT'] or 5432}/{settings_dict['NAME']}"
    )


def broker_queue_folder() -> Path:
    """Where the embedded (filesystem) broker keeps queued messages, one file each."""
    from django.conf import settings

    return Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])


@dataclass
class Worker:
    """A running ``celery worker`` (its main process; the job runs in a pool child) and its log file."""

    proc: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL the whole process group, main process and pool child at once: the machine is gone."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        """Cold shutdown (the test is over, nothing to finish); SIGKILL the group if it lingers."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


@contextmanager
def celery_worker(
    *, data_dir: Path, hostname: str = "test-worker", queues: str = "training,default",
    env: dict[str, str] | None = None, ready: bool = True,
) -> Iterator[Worker]:
    """Run ``celery worker`` (prefork, concurrency 1) sharing the test database, broker and media; stop it after.

    With ``ready`` (the default) it returns once the worker's heartbeat row is in the database. The log goes to
    ``data_dir/<hostname>.log``; the worker is named ``<hostname>@<this machine>``.
    """
    from django.conf import settings

    worker_env = {
        **os.environ,
        "DATABASE_URL": test_database_url(),
        "TAGSIGHT_DATA_DIR": str(settings.DATA_DIR),
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "PYTHONUNBUFFERED": "1",
        **(env or {}),
    }
    log_path = data_dir / f"{hostname}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "portal", "worker", "-Q", queues, "-c", "1", "-P", "prefork",
             "--hostname", f"{hostname}@%h", "--loglevel", "INFO", "--without-gossip", "--without-mingle"],
            cwd=ROOT, env=worker_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    worker = Worker(proc, log_path)
    try:
        if ready:
            from training.models import WorkerHeartbeat

            def beating() -> bool:
                assert worker.alive(), f"the worker exited:\n{worker.log()[-3000:]}"
                return WorkerHeartbeat.objects.filter(pid=worker.pid).exists()

            wait_for(beating, timeout=120, interval=0.3, describe=lambda: worker.log()[-3000:])
        yield worker
    finally:
        worker.stop()


def wait_for(
    predicate: Callable[[], Any], *, timeout: float = 60.0, interval: float = 0.25,
    describe: Callable[[], str] | None = None,
) -> Any:
    """Poll ``predicate`` until it returns a truthy value or ``timeout`` passes (then AssertionError,
    with ``describe()`` in the message)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout:.0f} s" + (f":\n{describe()}" if describe else ""))


def served(proc: subprocess.Popen[bytes], port: int) -> bool:
    """For ``wait_for``: True once a started server accepts connections on ``port``; a server that exited fails."""
    import socket

    assert proc.poll() is None, f"the server exited with {proc.returncode}"
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False
