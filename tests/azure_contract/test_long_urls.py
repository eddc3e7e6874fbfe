"""Over-long URLs reach the API under real gunicorn (started like scripts/serve.py starts it) and are refused with
Azure's JSON error, never gunicorn's HTML 414 page."""

from __future__ import annotations

import http.client
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.azure_contract.conftest import TRAINING
from tests.worker import served, wait_for

ROOT = Path(__file__).resolve().parents[2]
PYTHON = str(Path(sys.executable).parent / "python")

pytestmark = pytest.mark.slow


def _web_command(port: int) -> list[str]:
    spec = importlib.util.spec_from_file_location("tagsight_serve", ROOT / "scripts" / "serve.py")
    assert spec and spec.loader
    serve = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(serve)
    return serve.web_command(str(port), host="127.0.0.1")  # type: ignore[no-any-return]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def gunicorn_server(tmp_path_factory):  # type: ignore[no-untyped-def]
    data = tmp_path_factory.mktemp("gunicorn-data")
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "TEST_DATABASE_NAME", "MEDIA_ROOT")}
    env.update(TAGSIGHT_DATA_DIR=str(data), DJANGO_SETTINGS_MODULE="portal.settings",
               CELERY_BROKER_URL="filesystem://", WEB_CONCURRENCY="1")
    subprocess.run([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    keys = subprocess.run([PYTHON, "manage.py", "apikeys", "longurls"], cwd=ROOT, env=env, check=True,
                          capture_output=True, text=True).stdout
    key = dict(line.split("=", 1) for line in keys.splitlines() if "=" in line)["TRAINING_KEY"]
    port = _free_port()
    log = open(data / "gunicorn.log", "wb")  # noqa: SIM115 - open for the server's lifetime
    proc = subprocess.Popen(_web_command(port), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        wait_for(lambda: served(proc, port), timeout=60, interval=0.3,
                 describe=lambda: (data / "gunicorn.log").read_text()[-3000:])
        yield port, key
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()


def _call(port: int, method: str, path: str, key: str) -> tuple[int, str, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(method, TRAINING + path, headers={"Training-Key": key, "Content-Length": "0"})
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type") or "", response.read()
    finally:
        connection.close()


def test_a_10000_character_name_is_an_azure_json_400_not_gunicorns_414(gunicorn_server) -> None:  # type: ignore[no-untyped-def]
    port, key = gunicorn_server
    status, _, body = _call(port, "POST", "/projects?name=Long%20names", key)
    assert status == 200, body[:300]
    project = json.loads(body)["id"]
    name = quote("t" * 10_000)
    for method, path, code in [
        ("POST", f"/projects/{project}/tags?name={name}", "BadRequestTagName"),
        ("POST", f"/projects?name={name}", "BadRequestProjectName"),
    ]:
        status, content_type, body = _call(port, method, path, key)
        assert (status, content_type.split(";")[0]) == (400, "application/json"), body[:300]
        answer = json.loads(body)
        assert set(answer) == {"code", "message"} and answer["code"] == code, answer
    status, content_type, body = _call(port, "GET", f"/projects/{project}/tags", key)
    assert status == 200 and json.loads(body) == []
