"""A second Tagsight server (its own process, data dir and database) holding a classification and a detection
project built with Microsoft's SDK: the source the import tests read, as they would read Azure. Also a tiny
throttling proxy to put in front of it (a real HTTP receiver that answers 429 + Retry-After, or slows originals).
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.factories import make_image_bytes
from tests.worker import served, wait_for

ROOT = Path(__file__).resolve().parents[3]
PYTHON = str(Path(sys.executable).parent / "python")
GUNICORN = str(Path(sys.executable).parent / "gunicorn")
DETECTION_DOMAIN = "da2e3a8a-40a5-4171-82f4-58522f70fbc1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class SourceImage:
    data: bytes
    tags: set[str]
    regions: list[tuple[str, float, float, float, float]] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass
class SourceProject:
    id: str
    name: str
    classification_type: str
    domain_id: str
    tags: dict[str, str]  # name -> type
    images: dict[str, SourceImage]  # sha256 -> image

    def image_by_sha(self, sha: str) -> SourceImage:
        return self.images[sha]


@dataclass
class Source:
    endpoint: str
    training_key: str
    classification: SourceProject
    detection: SourceProject

    @property
    def projects(self) -> list[SourceProject]:
        return [self.classification, self.detection]


def _build(endpoint: str, key: str) -> tuple[SourceProject, SourceProject]:
    """The two projects, made as an Azure user makes them: with the SDK (tiny images)."""
    from azure.cognitiveservices.vision.customvision.training import CustomVisionTrainingClient
    from azure.cognitiveservices.vision.customvision.training.models import (
        ImageFileCreateBatch,
        ImageFileCreateEntry,
        Region,
    )
    from msrest.authentication import ApiKeyCredentials

    sdk = CustomVisionTrainingClient(endpoint, ApiKeyCredentials(in_headers={"Training-key": key}))

    # Classification, multilabel, with a Negative tag, an untagged image and metadata.
    project = sdk.create_project("Birds & nests", description="SDK-built source", classification_type="Multilabel")
    robin = sdk.create_tag(project.id, "Robin")
    nest = sdk.create_tag(project.id, "Nest", description="twigs")
    negative = sdk.create_tag(project.id, "Negative", type="Negative")
    plan = [([robin], (200, 10, 10)), ([robin, nest], (10, 200, 10)), ([nest], (10, 10, 200)),
            ([robin], (200, 200, 10)), ([negative], (90, 90, 90)), ([], (250, 250, 250))]
    entries, images = [], {}
    for index, (tags, color) in enumerate(plan):
        data = make_image_bytes(size=(40 + index, 32), color=color)
        entries.append(ImageFileCreateEntry(name=f"bird-{index}.png", contents=data, tag_ids=[t.id for t in tags]))
        images[hashlib.sha256(data).hexdigest()] = SourceImage(data, {t.name for t in tags})
    summary = sdk.create_images_from_files(project.id, ImageFileCreateBatch(images=entries))
    assert summary.is_batch_successful, [i.status for i in summary.images]
    created = [i.image.id for i in summary.images]
    sdk.update_image_metadata(project.id, [created[0], created[1]], {"camera": "north", "site": "7"})
    for sha in list(images)[:2]:
        images[sha].metadata = {"camera": "north", "site": "7"}
    classification = SourceProject(project.id, project.name, "Multilabel", project.settings.domain_id,
                                   {"Robin": "Regular", "Nest": "Regular", "Negative": "Negative"}, images)

    # Object detection: regions with many decimals.
    project = sdk.create_project("Cutlery", domain_id=DETECTION_DOMAIN)
    fork = sdk.create_tag(project.id, "fork")
    knife = sdk.create_tag(project.id, "knife")
    boxes = [[(fork, 0.1234567891, 0.2, 0.3333333333, 0.25)],
             [(knife, 0.05, 0.05, 0.5, 0.9), (fork, 0.6, 0.1, 0.3987654321, 0.4)],
             [(fork, 0.0, 0.0, 1.0, 1.0)],
             [(knife, 0.25, 0.5, 0.5, 0.4999999999)]]
    entries, images = [], {}
    for index, regions in enumerate(boxes):
        data = make_image_bytes(size=(48, 36 + index), color=(30 + 40 * index, 120, 60), fmt="JPEG", quality=90)
        sdk_regions = [Region(tag_id=t.id, left=left, top=top, width=width, height=height)
                       for t, left, top, width, height in regions]
        entries.append(ImageFileCreateEntry(name=f"cutlery-{index}", contents=data, regions=sdk_regions))
        images[hashlib.sha256(data).hexdigest()] = SourceImage(
            data, {t.name for t, *_ in regions}, [(t.name, *box) for t, *box in regions])
    summary = sdk.create_images_from_files(project.id, ImageFileCreateBatch(images=entries))
    assert summary.is_batch_successful, [i.status for i in summary.images]
    detection = SourceProject(project.id, project.name, "Multiclass", DETECTION_DOMAIN,
                              {"fork": "Regular", "knife": "Regular"}, images)
    return classification, detection


@pytest.fixture(scope="session")
def source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Source]:
    """`manage.py migrate`, a training key from `manage.py apikeys`, gunicorn on a free port: a second server."""
    data = tmp_path_factory.mktemp("cv-source")
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "TEST_DATABASE_NAME", "MEDIA_ROOT")}
    env.update(TAGSIGHT_DATA_DIR=str(data), DJANGO_SETTINGS_MODULE="portal.settings", CELERY_BROKER_URL="filesystem://",
               STATICFILES_STORAGE_BACKEND="django.contrib.staticfiles.storage.StaticFilesStorage", LOG_LEVEL="WARNING")
    subprocess.run([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    keys = subprocess.run([PYTHON, "manage.py", "apikeys", "azure-user"], cwd=ROOT, env=env, check=True,
                          capture_output=True, text=True).stdout
    key = dict(line.split("=", 1) for line in keys.splitlines() if "=" in line)["TRAINING_KEY"]
    port = free_port()
    log = open(data / "gunicorn.log", "wb")  # noqa: SIM115 - open for the server's lifetime
    proc = subprocess.Popen(
        [GUNICORN, "portal.wsgi", "--config", str(ROOT / "gunicorn.conf.py"), "--bind", f"127.0.0.1:{port}",
         "--workers", "1", "--threads", "4"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        wait_for(lambda: served(proc, port), timeout=90, interval=0.2,
                 describe=lambda: (data / "gunicorn.log").read_text()[-3000:])
        endpoint = f"http://127.0.0.1:{port}"
        classification, detection = _build(endpoint, key)
        yield Source(endpoint, key, classification, detection)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()


class Proxy:
    """Forwards to ``upstream``; every ``throttle_every``-th request is answered 429 with Retry-After instead, and
    originals may be slowed down (``delay_originals`` seconds) or, after the first ``hold_originals_after``, held
    until :meth:`release`. Records (time, path, status) of each answer."""

    def __init__(self, upstream: str, *, throttle_every: int = 0, retry_after: int = 1,
                 delay_originals: float = 0.0, hold_originals_after: int | None = None) -> None:
        self.upstream = upstream.removeprefix("http://")
        self.throttle_every, self.retry_after, self.delay_originals = throttle_every, retry_after, delay_originals
        self.hold_originals_after, self.originals, self.released = hold_originals_after, 0, threading.Event()
        self.log: list[tuple[float, str, int]] = []
        self.count = 0
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                with proxy.lock:
                    proxy.count += 1
                    throttled = proxy.throttle_every and proxy.count % proxy.throttle_every == 0
                if throttled:
                    body = b'{"code": "TooManyRequests", "message": "Rate limit is exceeded."}'
                    self.send_response(429)
                    self.send_header("Retry-After", str(proxy.retry_after))
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    proxy.record(self.path, 429)
                    return
                if not re.match(r"/customvision/v\d", self.path):  # not an API call: an image (/customvision/media/…)
                    with proxy.lock:
                        proxy.originals += 1
                        held = proxy.hold_originals_after is not None and proxy.originals > proxy.hold_originals_after
                    if held:
                        proxy.released.wait(timeout=120)
                    time.sleep(proxy.delay_originals)
                upstream = http.client.HTTPConnection(proxy.upstream, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection",)}
                upstream.request("GET", self.path, headers=headers)  # Host kept: URIs point back at the proxy
                answer = upstream.getresponse()
                body = answer.read()
                self.send_response(answer.status)
                for name, value in answer.getheaders():
                    if name.lower() not in ("connection", "transfer-encoding", "content-length"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                upstream.close()
                proxy.record(self.path, answer.status)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def release(self) -> None:
        """Let held originals through, and every one after them."""
        self.hold_originals_after = None
        self.released.set()

    def record(self, path: str, status: int) -> None:
        with self.lock:
            self.log.append((time.monotonic(), path, status))

    def __enter__(self) -> Proxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
