"""Prediction endpoint figures: p50/p95 latency of one 640 px JPEG and throughput with 8 concurrent clients.

    .venv/bin/python benchmarks/predict_api.py [--detect] [--stages] [--requests 200] [--clients 8] [--seconds 30]
                                               [--nostore] [--compact [--fp32]] [--data-dir D]

On a temporary data dir: migrate, upload the azure-quickstart classification photos (10 + 10; --detect: the
fork/scissors detection set, 20 + 20 with their boxes), train them through the worker's service
(``training.services.iteration_run``, in-process), publish the iteration, then start gunicorn exactly as
`make serve` does (portal.wsgi, 2 workers x 4 threads) and time
POST /customvision/v3.0/Prediction/{project}/{classify|detect}/iterations/{name}/image (stored, as Azure does;
--nostore times /image/nostore). Each client keeps one HTTP/1.1 connection. The prediction rate limit is off
(TAGSIGHT_PREDICTION_RATE_LIMIT=0). Goals (issue #15): classification p50 <= 2x the model-only time and
>= 100 requests/s; detection p50 <= 40 ms, >= 25 requests/s; zero errors.

--compact trains the classifier in the General (compact) domain, which also stores an int8 model, served where its
report says so (``training.ml.quantize.served``); --fp32 serves that iteration's fp32 model instead for this run (its
artifact's ``int8.served`` set to false, and restored afterwards). With --data-dir, runs with and without --fp32
compare the two models of one iteration through the API.

--stages first prints where one request's time goes, measured in this process on the same image (median of
--stage-runs): key and publish lookups, decode, model, head decoding + NMS, JSON, storing image + row,
thumbnail, and prediction_run / the whole view for comparison.
"""

from __future__ import annotations

import argparse
import atexit
import http.client
import io
import json
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import BIN, DATASETS, ROOT, free_port  # benchmarks/ is on sys.path when run as a script


def jpeg_640(detect: bool = False) -> bytes:
    from PIL import Image

    folder = "detection/test" if detect else "classification/Test"
    im = Image.open(DATASETS / f"azure-quickstart/{folder}/test_image.jpg").convert("RGB")
    im.thumbnail((640, 640))
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def setup(data_dir: Path, detect: bool = False, compact: bool = False) -> tuple[str, str, str]:
    """A trained, published quickstart classifier (detector; ``compact``: a classifier in the compact domain) in
    data_dir; returns (project id, publish name, prediction key)."""
    os.environ["TAGSIGHT_DATA_DIR"] = str(data_dir)
    os.environ["TAGSIGHT_PREDICTION_RATE_LIMIT"] = "0"
    os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings"
    os.environ.pop("DATABASE_URL", None)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    saved = data_dir / f"bench-{'detect' if detect else 'classify'}{'-compact' if compact else ''}.json"
    if saved.exists():  # --data-dir of an earlier run: reuse its trained, published project
        done = json.loads(saved.read_text())
        return done["project"], done["name"], done["key"]
    from projects.services import image_upload, project_create, tag_create
    from training.services import iteration_publish, iteration_queue, iteration_run
    from workspaces.services import personal_keys

    user = get_user_model().objects.filter(username="bench").first() or get_user_model().objects.create_user(
        username="bench", password="bench-pass-123")
    if detect:
        project = project_create(created_by=user, name="Cutlery", project_type="detection")
        folder = DATASETS / "azure-quickstart/detection"
        manifest = json.loads((folder / "manifest.json").read_text())
        tags = {name: tag_create(project=project, name=name).id for name in manifest["tags"]}
        for rel, entry in sorted(manifest["images"].items()):
            regions = [{**{k: r[k] for k in ("left", "top", "width", "height")}, "tag": tags[r["tag"]]}
                       for r in entry["regions"]]
            assert image_upload(project=project, data=(folder / rel).read_bytes(), filename=Path(rel).name,
                                regions=regions).ok
    else:
        project = project_create(created_by=user, name="Trees", domain_id=COMPACT_CLASSIFICATION if compact else None)
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
    print(f"trained the quickstart {'detector' if detect else 'classifier'} in {time.perf_counter() - started:.1f} s "
          f"(in-process, cold cache)")
    iteration_publish(iteration=iteration, publish_name="bench")
    key = personal_keys(user=user).prediction_key
    saved.write_text(json.dumps({"project": str(project.id), "name": "bench", "key": key}))
    return str(project.id), "bench", key


COMPACT_CLASSIFICATION = "0732100f-1a38-4e49-a514-c9b44c697ab5"  # General (compact), Azure's GUID


def int8_served(data_dir: Path, served: bool | None) -> bool | None:
    """Set ``int8.served`` in the metadata of the data dir's compact iteration (the artifact's stored copy and the
    worker cache's) to ``served``, or leave it with None; returns what it was (None: no int8 model)."""
    before = None
    for path in data_dir.rglob("artifact/metadata.json"):
        meta = json.loads(path.read_text())
        if "int8" not in meta:
            continue
        before = meta["int8"].get("served")
        if served is not None:
            meta["int8"]["served"] = served
            path.write_text(json.dumps(meta, indent=1))
    return before


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


def timed(fn: Callable[[], Any], runs: int) -> tuple[tuple[float, float], Any]:
    """Median wall and CPU milliseconds of ``runs`` calls (after one warm-up call), and the last call's result.

    CPU time is the whole process's (onnxruntime's pool threads included): on a machine shared with other work
    it moves far less than wall time, and on an idle machine a one-thread stage takes about that long.
    """
    result = fn()
    walls, cpus = [], []
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        result = fn()
        walls.append((time.perf_counter() - t0) * 1000)
        cpus.append((time.process_time() - c0) * 1000)
    return (statistics.median(walls), statistics.median(cpus)), result


def stages(project_id: str, name: str, key: str, body: bytes, *, detect: bool, runs: int) -> None:
    """Where one prediction request's time goes, each stage timed on its own in this process (median ms)."""
    from types import SimpleNamespace

    from django.conf import settings
    from django.test import Client as DjangoClient

    from portal.azure import wire
    from predictions.api import _published, image_prediction_json
    from predictions.services import prediction_run, predictor_get
    from projects.images import render
    from training.ml.images import load_array
    from workspaces.access import principal_for_key

    task = "detect" if detect else "classify"
    principal = principal_for_key(kind="prediction", key=key)
    request = SimpleNamespace(user=principal)
    project, iteration = _published(request, project_id, task, name)  # type: ignore[arg-type]
    predictor = predictor_get(iteration=iteration)
    rows: list[tuple[str, tuple[float, float]]] = []
    rows.append(("key lookup (1 query)", timed(lambda: principal_for_key(kind="prediction", key=key), runs)[0]))
    rows.append(("project + publish lookup", timed(lambda: _published(request, project_id, task, name), runs)[0]))  # type: ignore[arg-type]
    ms, array = timed(lambda: load_array(body, image_size=predictor.image_size, draft=predictor.draft), runs)
    rows.append((f"decode JPEG -> {array.shape[1]}x{array.shape[0]} RGB", ms))
    session = predictor._session
    if detect:
        from training.ml.detection.predict import OUTPUTS

        ms, outs = timed(lambda: session.run(None, {"image": array}), runs)
        rows.append(("model (resize + network, onnxruntime)", ms))
        feed = dict(zip(OUTPUTS, outs, strict=True))
        ms, _ = timed(lambda: predictor._decoder.run(None, feed), runs)
        rows.append(("head decoding + NMS (onnxruntime, decode.onnx)", ms))
    else:
        ms, _ = timed(lambda: session.run(["probabilities"], {"image": array}), runs)
        rows.append(("model (resize + network, onnxruntime)", ms))
    ms, raw = timed(lambda: predictor.predict(body), runs)
    rows.append((f"Predictor.predict (decode..Prediction objects; {len(raw)} results)", ms))

    answer = prediction_run(project=project, iteration=iteration, data=body, store=False).predictions

    def to_json() -> Any:  # what the request answers (detection: cut to the project's max detections)
        return wire.respond(image_prediction_json(project, iteration, answer))

    ms, response = timed(to_json, runs)
    rows.append((f"JSON of the answer ({len(answer)} results, {len(response.content) // 1024} kB)", ms))
    nostore, _ = timed(lambda: prediction_run(project=project, iteration=iteration, data=body, store=False), runs)
    stored, _ = timed(lambda: prediction_run(project=project, iteration=iteration, data=body, store=True), runs)
    rows.append(("prediction_run, nostore", nostore))
    rows.append(("prediction_run, stored", stored))
    rows.append(("  = storing on the request (stored - nostore)", (stored[0] - nostore[0], stored[1] - nostore[1])))
    ms, _ = timed(lambda: render(body, max_side=settings.TAGSIGHT_MAX_IMAGE_SIDE,
                                 thumbnail_size=settings.TAGSIGHT_THUMBNAIL_SIZE,
                                 display_size=settings.TAGSIGHT_DISPLAY_SIZE), runs)
    rows.append(("thumbnail render (projects.images.render)", ms))
    client = DjangoClient()
    path = f"/customvision/v3.0/Prediction/{project_id}/{task}/iterations/{name}/image"

    def view() -> Any:
        response = client.post(path, data=body, content_type="application/octet-stream", HTTP_PREDICTION_KEY=key)
        assert response.status_code == 200, response.content
        return response

    rows.append(("whole request through Django (test client, stored)", timed(view, runs)[0]))
    print(f"per-stage breakdown, {task}, one {len(body) // 1024} kB JPEG, median of {runs} runs, in-process:")
    print(f"  {'':<64} {'wall ms':>8} {'CPU ms':>8}")
    for label, (wall, cpu) in rows:
        print(f"  {label:<64} {wall:8.2f} {cpu:8.2f}")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200, help="sequential requests timed for latency")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--nostore", action="store_true", help="time /image/nostore instead of /image")
    parser.add_argument("--detect", action="store_true", help="a detection project: time /detect/")
    parser.add_argument("--stages", action="store_true", help="first print the in-process per-stage breakdown")
    parser.add_argument("--stage-runs", type=int, default=30)
    parser.add_argument("--keep", action="store_true", help="keep the temporary data dir (logs, database)")
    parser.add_argument("--compact", action="store_true", help="a classifier in the compact domain (int8 model)")
    parser.add_argument("--fp32", action="store_true", help="with --compact: serve its fp32 model for this run")
    parser.add_argument("--data-dir", type=Path, help="use (and keep) this data dir; a project trained there by an "
                        "earlier run is reused (copy the folder to compare two code versions on one model)")
    args = parser.parse_args()

    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="tagsight-predict-bench-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    project_id, name, key = setup(data_dir, detect=args.detect, compact=args.compact)
    served = int8_served(data_dir, False if args.fp32 else None)
    if args.fp32:
        atexit.register(int8_served, data_dir, served)  # the iteration serves as its report says again
    if args.compact:
        print(f"compact iteration: int8 model served by its report: {served}; this run serves "
              f"{'fp32' if args.fp32 or not served else 'int8'}")
    body = jpeg_640(detect=args.detect)
    if args.stages:
        stages(project_id, name, key, body, detect=args.detect, runs=args.stage_runs)
    port = free_port()
    env = {**os.environ, "TAGSIGHT_DATA_DIR": str(data_dir), "DJANGO_SETTINGS_MODULE": "portal.settings"}
    server = subprocess.Popen(
        [str(BIN / "gunicorn"), "portal.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "2", "--threads", "4",
         "--timeout", "120"],
        cwd=ROOT, env=env, start_new_session=True,
        stdout=open(data_dir / "gunicorn.log", "wb"), stderr=subprocess.STDOUT,
    )
    suffix = "image/nostore" if args.nostore else "image"
    task = "detect" if args.detect else "classify"
    path = f"/customvision/v3.0/Prediction/{project_id}/{task}/iterations/{name}/{suffix}"
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
        print(f"POST .../{task}/.../{suffix}, one {len(body) // 1024} kB 640 px JPEG, gunicorn 2 workers x 4 threads, "
              f"{os.cpu_count()} CPUs")
        print(f"latency over {len(times)} sequential requests: p50 {pct(times, 0.5):.1f} ms, "
              f"p95 {pct(times, 0.95):.1f} ms, mean {statistics.fmean(times):.1f} ms, errors {errors}")

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
              f"p95 {pct(lat, 0.95):.0f} ms")
        if not args.nostore:
            from predictions.models import StoredPrediction

            print(f"stored predictions after the run: {StoredPrediction.objects.count()}")
        return 0 if bad == 0 and errors == 0 else 1
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
        if not args.keep and not args.data_dir:
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
