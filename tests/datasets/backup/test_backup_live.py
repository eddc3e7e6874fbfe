"""Backups of a running installation, restored by separate processes onto fresh data directories.

1. During an upload burst (threads posting through the Training API to a live server), `manage.py backup` runs
   as its own process: the restored copy holds every image acknowledged before the backup began, and every row's
   files are there with the bytes its SHA-256 names (nothing torn).
2. A trained iteration restored onto a fresh TAGSIGHT_DATA_DIR predicts identically through the Prediction API
   of a served process (gunicorn), and the restored training and prediction keys work there.
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.datasets.backup.helpers import embedded_installation, manage, this_installation
from tests.factories import DATASETS, make_image_bytes, make_project
from tests.worker import ROOT, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

TRAINING = "/customvision/v3.3/training"
PREDICTION = "/customvision/v3.0/prediction"


def _call(url: str, *, key: tuple[str, str], body: bytes | None = None,
          content_type: str = "application/json") -> tuple[int, Any]:
    headers = {key[0]: key[1], "Content-Type": content_type}
    request = urllib.request.Request(url, data=body, headers=headers, method="POST" if body is not None else "GET")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()[:300]
    except (urllib.error.URLError, ConnectionError):  # not listening yet
        return 0, None


def test_backup_during_an_upload_burst_holds_every_acknowledged_image(live_server, owner, settings, tmp_path):  # type: ignore[no-untyped-def]
    from workspaces.services import personal_keys

    key = ("Training-Key", personal_keys(user=owner).training_key)
    project = make_project(owner)
    url = f"{live_server.url}{TRAINING}/projects/{project.id}/images/files"
    acked: list[tuple[float, str]] = []  # (when acknowledged, image id)
    lock, stop, errors = threading.Lock(), threading.Event(), []

    def uploader(n: int) -> None:
        i = 0
        while not stop.is_set():
            i += 1
            data = make_image_bytes(size=(24, 16), color=(n * 60, i % 256, i // 256))
            body = json.dumps({"images": [{"name": f"{n}-{i}.png", "contents": base64.b64encode(data).decode()}]})
            status, answer = _call(url, key=key, body=body.encode())
            if status == 200 and answer["images"][0]["status"] == "OK":
                with lock:
                    acked.append((time.monotonic(), answer["images"][0]["image"]["id"]))
            else:
                errors.append((status, answer))

    threads = [threading.Thread(target=uploader, args=(n,), daemon=True) for n in range(3)]
    for thread in threads:
        thread.start()
    try:
        wait_for(lambda: len(acked) >= 10, timeout=120, interval=0.1)
        began = time.monotonic()
        with lock:
            before = {image_id for _, image_id in acked}
        manage("backup", str(tmp_path / "burst.zip"), env=this_installation(settings.MEDIA_ROOT))
        ended = time.monotonic()
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    assert not errors, errors[:3]
    during = [image_id for when, image_id in acked if began < when < ended]
    assert during, "no upload was acknowledged while the backup ran: not a burst"

    fresh = tmp_path / "fresh"
    manage("restore", str(tmp_path / "burst.zip"), env=embedded_installation(fresh))
    with sqlite3.connect(f"file:{fresh / 'tagsight.sqlite3'}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT id, file, thumbnail, display, sha256 FROM projects_image").fetchall()
    restored = {uuid.UUID(row[0]) for row in rows}
    assert {uuid.UUID(i) for i in before} <= restored
    media = fresh / "media"
    referenced = set()
    for _, original, thumbnail, display, sha256 in rows:
        assert hashlib.sha256((media / original).read_bytes()).hexdigest() == sha256
        for name in (thumbnail, display):
            assert (media / name).stat().st_size > 0
        referenced |= {original, thumbnail, display}
    # Nothing but what the snapshot's rows reference: uploads after the snapshot left no stray files.
    assert {p.relative_to(media).as_posix() for p in media.rglob("*") if p.is_file()} == referenced


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_restore_on_a_fresh_data_dir_predicts_identically(owner, settings, tmp_path, client):  # type: ignore[no-untyped-def]
    from tests.predictions.builders import tiny_fork_detector
    from training.services import iteration_publish
    from workspaces.services import personal_keys

    project, iteration = tiny_fork_detector(owner, tmp_path, per_tag=2)
    iteration_publish(iteration=iteration, publish_name="forks")
    keys = personal_keys(user=owner)
    photo = next((DATASETS / "azure-quickstart" / "detection").rglob("*.jpg")).read_bytes()
    path = f"{PREDICTION}/{project.id}/detect/iterations/forks/image/nostore"
    before = client.post(path, data=photo, content_type="application/octet-stream",
                         HTTP_PREDICTION_KEY=keys.prediction_key)
    assert before.status_code == 200, before.content[:300]
    manage("backup", str(tmp_path / "b.zip"), env=this_installation(settings.MEDIA_ROOT))

    fresh = tmp_path / "fresh"
    env = embedded_installation(fresh)
    manage("restore", str(tmp_path / "b.zip"), env=env)
    port = _free_port()
    log = (tmp_path / "gunicorn.log").open("wb")
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "portal.wsgi", "--bind", f"127.0.0.1:{port}", "--workers",
         "1", "--timeout", "300"],  # the first prediction loads torch and the model
        cwd=ROOT, env={**env, "STATICFILES_STORAGE_BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        training = ("Training-Key", keys.training_key)
        status, projects = wait_for(lambda: (r := _call(f"{base}{TRAINING}/projects", key=training))[0] and r,
                                    timeout=120, interval=0.5,
                                    describe=lambda: (tmp_path / "gunicorn.log").read_text()[-3000:])
        assert status == 200 and [p["id"] for p in projects] == [str(project.id)]
        status, after = _call(f"{base}{path}", key=("Prediction-Key", keys.prediction_key), body=photo,
                              content_type="application/octet-stream")
        assert status == 200, after
        assert after["predictions"] == before.json()["predictions"]
        assert after["iteration"] == str(iteration.id)
        assert _call(f"{base}{TRAINING}/projects", key=("Training-Key", "not-a-key"))[0] == 401
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
