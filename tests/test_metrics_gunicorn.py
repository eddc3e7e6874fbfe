"""/metrics under gunicorn with several worker processes: one scrape counts the requests every process served."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests import worker as harness
from tests.worker import ROOT, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _get(url: str, token: str = "") -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ""
    except urllib.error.URLError:  # not listening yet
        return 0, ""


def test_every_gunicorn_worker_is_counted(settings, tmp_path):  # type: ignore[no-untyped-def]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "DATABASE_URL": harness.test_database_url(), "TAGSIGHT_DATA_DIR": str(settings.DATA_DIR),
           "MEDIA_ROOT": str(tmp_path / "media"), "TAGSIGHT_METRICS_TOKEN": "tok",
           "TAGSIGHT_METRICS_DIR": str(tmp_path / "metrics"), "STATICFILES_STORAGE_BACKEND":
           "django.contrib.staticfiles.storage.StaticFilesStorage"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log = (tmp_path / "gunicorn.log").open("wb")
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "portal.wsgi", "--config", str(ROOT / "gunicorn.conf.py"),
         "--bind", f"127.0.0.1:{port}", "--workers", "3", "--threads", "2"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _get(f"{base}/metrics")[0] == 401, timeout=90, interval=0.5,
                 describe=lambda: (tmp_path / "gunicorn.log").read_text()[-3000:])
        # Batches of 60 requests, 12 at a time, until more than one process has answered some (on a quiet machine
        # one worker can take a whole batch: the kernel hands each connection to whichever worker accepts first).
        web = tmp_path / "metrics" / "web"
        sent = 0
        for _ in range(20):
            with ThreadPoolExecutor(12) as pool:
                codes = list(pool.map(lambda _: _get(f"{base}/customvision/v3.4-preview/training/projects")[0],
                                      range(60)))
            assert codes == [401] * 60  # no key
            sent += 60
            if len(list(web.glob("histogram_*.db"))) >= 2:
                break
        # Several processes wrote their own files into the web folder; the scrape adds them all up.
        assert len(list(web.glob("histogram_*.db"))) >= 2
        status, text = _get(f"{base}/metrics", "tok")
        assert status == 200
        counted = sum(
            s.value for f in text_string_to_metric_families(text) for s in f.samples
            if s.name == "tagsight_http_request_duration_seconds_count" and s.labels["route"] == "training:GetProjects"
        )
        assert counted == sent
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
