"""Prediction endpoint figures: p50/p95 latency of one 640 px JPEG and throughput with 8 concurrent clients.

    .venv/bin/python benchmarks/predict_api.py [--requests 200] [--clients 8] [--seconds 30] [--nostore]

On a temporary data dir: migrate, upload the azure-quickstart classification photos (10 + 10), train them
through the worker's service (``training.services.iteration_run``, in-process), publish the iteration, then
start gunicorn exactly as `make serve` does (portal.wsgi, 2 workers x 4 threads) and time
POST /customvision/v3.0/Prediction/{project}/classify/iterations/{name}/image (stored, as Azure does;
--nostore times /image/nostore). Each client keeps one HTTP/1.1 connection. Goals: p50 <= 25 ms,
>= 40 requests/s, zero errors.
"""

from __future__ import annotations

import argparse
import http.client
import io
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _common import BIN, DATASETS, ROOT, free_port  # benchmarks/ is on sys.path when run as a script


def jpeg_640() -> bytes:
    from PIL import Image

    im = Image.open(DATASETS / "azure-quickstart/classification/Test/test_image.jpg").convert("RGB")
    im.thumbnail((640, 640))
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def setup(data_dir: Path) -> tuple[str, str, str]:
    """A trained, published quickstart classifier in data_dir; returns (project id, publish name, prediction key)."""
    os.environ["TAGSIGHT_DATA_DIR"] = str(data_dir)
    os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings"
    os.environ.pop("DATABASE_URL", None)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from projects.services import image_upload, project_create, tag_create
    from training.services import iteration_publish, iteration_queue, iteration_run
    from workspaces.services import personal_keys

    user = get_user_model().objects.create_user(username="bench", password="bench-pass-123")
    project = project_create(created_by=user, name="Trees")
    folder = DATASETS / "azure-quickstart/classification"
    for name, sub in (("Hemlock", "Hemlock"), ("Japanese Cherry", "Japanese_Cherry")):
        tag = tag_create(project=project, name=name)
        for path in sorted((folder / sub).glob("*.jpg")):
            assert image_upload(project=project, data=path.read_bytes(), filename=path.name, tags=[tag.id]).ok
    started = time.perf_counter()
    iteration = iteration_queue(project=project, requested_by=user)
    iteration_run(iteration_id=iteration.id)
    iteration.refresh_from_db()
    assert iteration.status == "Completed", iteration.error
    print(f"trained the quickstart classifier in {time.perf_counter() - started:.1f} s (in-process, cold cache)")
    iteration_publish(iteration=iteration, publish_name="bench")
    return str(project.id), "bench", personal_keys(user=user).prediction_key


class Client:
    def __init__(self, port: int, path: str, key: str, body: bytes) -> None:
        self.port, self.path, self.body = port, path, body
        self.headers = {"Prediction-Key": key, "Content-Type": "application/octet-stream"}
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def call(self) -> tuple[int, float]:
        """One request; a keep-alive connection the server closed while idle (gunicorn's 2 s) is reopened once."""
        t0 = time.perf_counter()
        for attempt in (1, 2):
            try:
                self.conn.request("POST", self.path, body=self.body, headers=self.headers)
                response = self.conn.getresponse()
                response.read()
                return response.status, (time.perf_counter() - t0) * 1000
            except (OSError, http.client.HTTPException):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                if attempt == 2:
                    break
                t0 = time.perf_counter()
        return 0, (time.perf_counter() - t0) * 1000


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200, help="sequential requests timed for latency")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--nostore", action="store_true", help="time /image/nostore instead of /image")
    parser.add_argument("--keep", action="store_true", help="keep the temporary data dir (logs, database)")
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="tagsight-predict-bench-"))
    project_id, name, key = setup(data_dir)
    body = jpeg_640()
    port = free_port()
    env = {**os.environ, "TAGSIGHT_DATA_DIR": str(data_dir), "DJANGO_SETTINGS_MODULE": "portal.settings"}
    server = subprocess.Popen(
        [str(BIN / "gunicorn"), "portal.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "2", "--threads", "4",
         "--timeout", "120"],
        cwd=ROOT, env=env, start_new_session=True,
        stdout=open(data_dir / "gunicorn.log", "wb"), stderr=subprocess.STDOUT,
    )
    suffix = "image/nostore" if args.nostore else "image"
    path = f"/customvision/v3.0/Prediction/{project_id}/classify/iterations/{name}/{suffix}"
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        # Warm up: both workers load the app and the model (several connections so both get some).
        warm = [Client(port, path, key, body) for _ in range(4)]
        for _ in range(5):
            for c in warm:
                status, _ = c.call()
                assert status == 200, f"warm-up answered {status}; see {data_dir / 'gunicorn.log'}"

        client = Client(port, path, key, body)
        times, errors = [], 0
        for _ in range(args.requests):
            status, ms = client.call()
            times.append(ms)
            errors += status != 200
        print(f"POST .../{suffix}, one {len(body) // 1024} kB 640x457 JPEG, gunicorn 2 workers x 4 threads, "
              f"{os.cpu_count()} CPUs")
        print(f"latency over {len(times)} sequential requests: p50 {pct(times, 0.5):.1f} ms, "
              f"p95 {pct(times, 0.95):.1f} ms, mean {statistics.fmean(times):.1f} ms, errors {errors} "
              f"(goal p50 <= 25 ms)")

        deadline = time.perf_counter() + args.seconds
        results: list[list[tuple[int, float]]] = [[] for _ in range(args.clients)]

        def worker(i: int) -> None:
            c = Client(port, path, key, body)
            while time.perf_counter() < deadline:
                results[i].append(c.call())

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(args.clients)]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
        flat = [r for rs in results for r in rs]
        bad = sum(1 for s, _ in flat if s != 200)
        lat = [ms for _, ms in flat]
        print(f"throughput, {args.clients} concurrent clients for {elapsed:.1f} s: {len(flat)} requests, "
              f"{len(flat) / elapsed:.1f} req/s, errors {bad}, latency p50 {pct(lat, 0.5):.0f} ms "
              f"p95 {pct(lat, 0.95):.0f} ms (goal >= 40 req/s, 0 errors)")
        if not args.nostore:
            from predictions.models import StoredPrediction

            print(f"stored predictions after the run: {StoredPrediction.objects.count()}")
        return 0 if bad == 0 and errors == 0 else 1
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
        if not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
