"""The acceptance script: Microsoft's SDK runs both quickstart flows against `make serve` (web + real worker).

Runs ../shared/acceptance/sdk_quickstart.py unchanged against scripts/serve.py (what `make serve` starts:
gunicorn and a Celery worker on the embedded broker) on a fresh data dir and a free port, with the keys of a team
workspace made by `manage.py workspace create` (issue #12: the script still passes with workspace keys).
Skipped where there is no ../shared (a plain clone), failed instead when TAGSIGHT_REQUIRE_SHARED=1: see
tests.factories.shared_path.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.factories import shared_path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

pytestmark = [pytest.mark.slow, pytest.mark.worker]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def script() -> Path:
    """The acceptance script, which reads its images from the shared datasets beside it."""
    return shared_path("acceptance", "sdk_quickstart.py")


@pytest.fixture
def served(tmp_path):  # type: ignore[no-untyped-def]
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "TEST_DATABASE_NAME")}
    env.update(
        TAGSIGHT_DATA_DIR=str(tmp_path / "data"),
        PORT=str(port),
        TAGSIGHT_ADMIN_PASSWORD="acceptance-pass",
        DJANGO_SETTINGS_MODULE="portal.settings",
        CELERY_BROKER_URL="filesystem://",
    )
    env.pop("MEDIA_ROOT", None)
    log = open(tmp_path / "serve.log", "wb")
    proc = subprocess.Popen(
        [str(BIN / "python"), "scripts/serve.py"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 180
        while True:  # the web server answers and a worker has sent its heartbeat
            try:
                with urllib.request.urlopen(f"{endpoint}/healthz", timeout=5) as r:
                    health = json.load(r)
            except OSError as exc:
                health = {"error": str(exc)}
            except ValueError:
                health = {}
            if health.get("worker", {}).get("ok"):
                break
            if time.time() > deadline or proc.poll() is not None:
                pytest.fail(f"server did not start: {health}\n{(tmp_path / 'serve.log').read_text()[-3000:]}")
            time.sleep(1)
        found = _team_keys(env)
        yield endpoint, found["TRAINING_KEY"], found["PREDICTION_KEY"], env
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def _manage(env: dict[str, str], *args: str) -> str:
    return subprocess.run([str(BIN / "python"), "manage.py", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, check=True).stdout


def _team_keys(env: dict[str, str]) -> dict[str, str]:
    """Key 1 of a team workspace, set up as a script would (`manage.py workspace create`, `apikeys --workspace`):
    the script runs on a workspace's keys, not on a user's personal ones."""
    _manage(env, "workspace", "create", "Acceptance team", "--owner", "acceptance", "--create-user")
    found = dict(line.split("=", 1) for line in _manage(env, "apikeys", "acceptance", "--workspace",
                                                        "Acceptance team").splitlines() if "=" in line)
    personal = dict(line.split("=", 1) for line in _manage(env, "apikeys", "acceptance").splitlines() if "=" in line)
    assert set(found) == set(personal) == {"TRAINING_KEY", "PREDICTION_KEY"}
    assert not set(found.values()) & set(personal.values())
    return found


def test_sdk_quickstart_acceptance_script_passes(script, served, tmp_path):  # type: ignore[no-untyped-def]
    endpoint, training_key, prediction_key, env = served
    run_env = {
        **env,
        "CV_ENDPOINT": endpoint + "/",
        "CV_TRAINING_KEY": training_key,
        "CV_PREDICTION_KEY": prediction_key,
        "CV_POLL_INTERVAL": "2",
        "CV_TRAIN_TIMEOUT": "1500",
    }
    out = subprocess.run(
        [str(BIN / "python"), str(script)], cwd=ROOT, env=run_env, capture_output=True, text=True, timeout=3000
    )
    report = out.stdout + out.stderr
    (tmp_path / "acceptance.log").write_text(report)
    print(report[-4000:])
    assert out.returncode == 0, report[-6000:]
    assert report.strip().splitlines()[-1].endswith(" 0 failed")
