"""Soak: minutes of mixed traffic on the served portal; errors, latency per route, memory drift, nothing lost.

    .venv/bin/python benchmarks/soak.py [--minutes 10] [--clients 8] [--think 0.25] [--keep]

Starts what `make serve` starts (gunicorn from scripts/serve.py's command line + one Celery worker, -Q
training,default) on the embedded profile (SQLite, filesystem broker and media under a temporary data dir).
When the caller sets DATABASE_URL / CELERY_BROKER_URL / STORAGE_BACKEND (and S3_*), the same run goes to the
production profile those name (the soak's user and project are fresh, so an existing database is fine).

Setup (not timed): a General (compact) classification project with the azure-quickstart photos (10 Hemlock, 10
Japanese Cherry, tests/data so a fresh clone has them); training 1 through the worker (API), published as "soak".
Then, for --minutes:
- --clients prediction clients POST stored predictions (/classify/iterations/soak/image) with --think s pauses;
- an API client uploads batches (create_images_from_files: tagged, and untagged ones it then tags with
  create_image_tags), and reads counts and iterations;
- a portal user (signed in, CSRF and all) opens the project, uploads one file at a time as the uploader script does,
  tags it from the grid, creates and deletes a tag, and at 30 % of the run presses Train (training 2);
- once training 2 completes, an ONNX export is requested, waited for and downloaded (it may finish after the
  traffic stops; the run waits for it).
Reports: errors (goal 0), p50/p95 per route, web (gunicorn master + workers) and worker (Celery main + pool) RSS
at the start, after the first quarter (caches filled) and at the end (goal: the end within 10 % of the quarter
mark), and that every image uploaded and every stored prediction is
there afterwards, counted through the API and the database (rows and stored files).
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import requests
from _common import BIN, ROOT, free_port  # benchmarks/ is on sys.path when run as a script

QUICKSTART = ROOT / "tests" / "data" / "azure-quickstart" / "classification"
GENERAL_COMPACT = "0732100f-1a38-4e49-a514-c9b44c697ab5"
TRAINING = "/customvision/v3.3/training"
PASSWORD = "soak-pass-123"


class Stats:
    """Latency and errors per route, shared by the client threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.times: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)
        self.samples: list[str] = []

    def call(self, session: requests.Session, route: str, method: str, url: str, *, ok: tuple[int, ...] = (200,),
             **kw: Any) -> requests.Response | None:
        """One request; a keep-alive connection the server closed while idle is retried once (predict_api.py)."""
        kw.setdefault("timeout", 120)
        kw.setdefault("allow_redirects", False)
        for attempt in (1, 2):
            t0 = time.perf_counter()
            try:
                response = session.request(method, url, **kw)
            except requests.ConnectionError as exc:
                if attempt == 1:
                    continue
                self._error(route, f"{route}: {exc!r}"[:300])
                return None
            ms = (time.perf_counter() - t0) * 1000
            with self.lock:
                self.times[route].append(ms)
            if response.status_code not in ok:
                self._error(route, f"{route}: HTTP {response.status_code} {response.text[:200]!r}")
            return response
        return None

    def _error(self, route: str, sample: str) -> None:
        with self.lock:
            self.errors[route] += 1
            if len(self.samples) < 10:
                self.samples.append(sample)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] if ordered else float("nan")


def unique_jpeg(path: Path) -> bytes:
    """The photo's bytes plus a unique tail after the JPEG end (Pillow ignores it): never a duplicate upload."""
    return path.read_bytes() + uuid.uuid4().bytes


def group_rss_mib(pgid: int) -> float:
    """Resident memory of every process in a process group (the server and its workers), in MiB."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) != pgid:  # field 5 of /proc/pid/stat: the process group
                continue
            for line in (stat.parent / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return total / 1024


def setup() -> dict[str, Any]:
    """Django in this process (the same database and storage as the servers); a user, keys and the project."""
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from projects.services import image_upload, project_create, tag_create
    from workspaces.services import personal_keys

    username = f"soak-{uuid.uuid4().hex[:8]}"
    user = get_user_model().objects.create_user(username=username, password=PASSWORD)
    project = project_create(created_by=user, name="Soak", domain_id=GENERAL_COMPACT)
    tags, ids = {}, []
    for name, folder in (("Hemlock", "Hemlock"), ("Japanese Cherry", "Japanese_Cherry")):
        tag = tag_create(project=project, name=name)
        tags[name] = str(tag.id)
        for path in sorted((QUICKSTART / folder).glob("*.jpg")):
            result = image_upload(project=project, data=path.read_bytes(), filename=path.name, tags=[tag.id])
            assert result.status == "OK" and result.image is not None, result.message
            ids.append(str(result.image.id))
    keys = personal_keys(user=user)
    return {"username": username, "project": str(project.id), "tags": tags, "image_ids": ids,
            "training_key": keys.training_key, "prediction_key": keys.prediction_key}


def wait_for_worker(timeout: float) -> None:
    from training.models import WorkerHeartbeat

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if WorkerHeartbeat.objects.exists():
            return
        time.sleep(0.5)
    raise SystemExit("the worker never beat")


def wait_for_port(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"nothing listens on port {port}")


class Soak:
    def __init__(self, base: str, ctx: dict[str, Any], args: argparse.Namespace) -> None:
        self.base, self.ctx, self.args = base, ctx, args
        self.stats = Stats()
        self.lock = threading.Lock()
        self.uploaded: set[str] = set(ctx["image_ids"])
        self.predictions: set[str] = set()
        self.stop = threading.Event()
        self.deadline = 0.0
        self.started = 0.0
        self.training2: str | None = None
        self.export_note = "not reached"
        self.api = requests.Session()
        self.api.headers["Training-Key"] = ctx["training_key"]
        self.photos = sorted(QUICKSTART.glob("*/*.jpg"))
        self.by_tag = {name: sorted((QUICKSTART / folder).glob("*.jpg"))
                       for name, folder in (("Hemlock", "Hemlock"), ("Japanese Cherry", "Japanese_Cherry"))}

    def t(self, path: str) -> str:
        return f"{self.base}{TRAINING}/projects/{self.ctx['project']}{path}"

    def wait_iteration(self, iteration_id: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r = self.stats.call(self.api, "api:GetIteration", "GET", self.t(f"/iterations/{iteration_id}"))
            body = r.json() if r is not None and r.status_code == 200 else {}
            if body.get("status") in ("Completed", "Failed"):
                return body
            time.sleep(2)
        raise SystemExit(f"iteration {iteration_id} did not finish within {timeout:.0f} s")

    # ------------------------------------------------------------------------------------------ setup, timed apart

    def train_and_publish(self) -> float:
        t0 = time.perf_counter()
        r = self.stats.call(self.api, "api:TrainProject", "POST", self.t("/train"))
        assert r is not None and r.status_code == 200, r.text if r is not None else "no answer"
        body = self.wait_iteration(r.json()["id"], 1800)
        assert body["status"] == "Completed", body
        r = self.stats.call(self.api, "api:PublishIteration", "POST", self.t(f"/iterations/{body['id']}/publish"),
                            params={"publishName": "soak", "predictionId": "soak"})
        assert r is not None and r.status_code == 200, r.text if r is not None else "no answer"
        return time.perf_counter() - t0

    # ------------------------------------------------------------------------------------------ the traffic

    def predictor(self, n: int) -> None:
        session = requests.Session()
        session.headers.update({"Prediction-Key": self.ctx["prediction_key"],
                                "Content-Type": "application/octet-stream"})
        url = f"{self.base}/customvision/v3.0/Prediction/{self.ctx['project']}/classify/iterations/soak/image"
        rng = random.Random(n)
        while not self.stop.is_set():
            r = self.stats.call(session, "prediction:ClassifyImage", "POST", url,
                                data=self.photos[rng.randrange(len(self.photos))].read_bytes())
            if r is not None and r.status_code == 200:
                with self.lock:
                    self.predictions.add(r.json()["id"])
            self.stop.wait(self.args.think)

    def api_client(self) -> None:
        rng = random.Random(0)
        while not self.stop.is_set():
            name = rng.choice(list(self.by_tag))
            tagged = [{"name": p.name, "contents": _b64(unique_jpeg(p))} for p in rng.sample(self.by_tag[name], 2)]
            untagged = [{"name": p.name, "contents": _b64(unique_jpeg(p))} for p in rng.sample(self.by_tag[name], 2)]
            for batch, tag_ids in ((tagged, [self.ctx["tags"][name]]), (untagged, [])):
                r = self.stats.call(self.api, "api:CreateImagesFromFiles", "POST", self.t("/images/files"),
                                    json={"images": batch, "tagIds": tag_ids})
                ids = [i["image"]["id"] for i in (r.json()["images"] if r is not None and r.status_code == 200
                                                  else []) if i["status"] == "OK"]
                with self.lock:
                    self.uploaded.update(ids)
                if not tag_ids and ids:
                    entries = [{"imageId": i, "tagId": self.ctx["tags"][name]} for i in ids]
                    self.stats.call(self.api, "api:CreateImageTags", "POST", self.t("/images/tags"),
                                    json={"tags": entries})
            self.stats.call(self.api, "api:GetImageCount", "GET", self.t("/images/count"))
            self.stats.call(self.api, "api:GetIterations", "GET", self.t("/iterations"))
            self.stop.wait(2.0)

    def portal_login(self) -> requests.Session:
        session = requests.Session()
        r = self.stats.call(session, "portal:login", "GET", f"{self.base}/accounts/login/")
        assert r is not None
        r = self.stats.call(session, "portal:login", "POST", f"{self.base}/accounts/login/", ok=(302,),
                            data={"username": self.ctx["username"], "password": PASSWORD,
                                  "csrfmiddlewaretoken": session.cookies["csrftoken"]},
                            headers={"Referer": f"{self.base}/accounts/login/"})
        assert r is not None and r.status_code == 302, "portal sign-in failed"
        session.headers.update({"X-CSRFToken": session.cookies["csrftoken"], "Referer": f"{self.base}/"})
        return session

    def portal_user(self) -> None:
        session = self.portal_login()
        project = f"{self.base}/projects/{self.ctx['project']}"
        rng = random.Random(1)
        step = 0
        while not self.stop.is_set():
            step += 1
            self.stats.call(session, "portal:project-detail", "GET", f"{project}/")
            name = rng.choice(list(self.by_tag))
            photo = rng.choice(self.by_tag[name])
            r = self.stats.call(session, "portal:image-upload", "POST", f"{project}/upload", ok=(201,),
                                files={"file": (photo.name, unique_jpeg(photo), "image/jpeg")},
                                headers={"Accept": "application/json"})
            image_id = r.json().get("image_id") if r is not None and r.status_code == 201 else None
            if image_id:
                with self.lock:
                    self.uploaded.add(image_id)
                self.stats.call(session, "portal:images-action", "POST", f"{project}/images/action",
                                data={"action": "tag", "image_ids": [image_id], "tag_ids": [self.ctx["tags"][name]]},
                                headers={"HX-Request": "true"})
            if step % 10 == 0:  # a tag made by mistake and deleted again
                self.stats.call(session, "portal:tag-create", "POST", f"{project}/tags/new",
                                data={"name": f"Oops {step}", "type": "Regular"}, headers={"HX-Request": "true"})
                from projects.models import Tag

                oops = Tag.objects.filter(project_id=self.ctx["project"], name=f"Oops {step}").first()
                if oops is None:
                    self.stats._error("portal:tag-create", "portal:tag-create: the tag was not created")
                else:
                    self.stats.call(session, "portal:tag-delete", "POST", f"{project}/tags/{oops.id}/delete",
                                    headers={"HX-Request": "true"})
            if self.training2 is None and time.monotonic() >= self.started + 0.3 * (self.deadline - self.started):
                r = self.stats.call(session, "portal:train", "POST", f"{project}/train", ok=(302,),
                                    data={"training_type": "Regular"})
                match = re.search(r"/iterations/([0-9a-f-]{36})/", r.headers.get("Location", "")) if r else None
                self.training2 = match.group(1) if match else "failed"
            self.stop.wait(3.0)

    def trainer(self) -> None:
        """Wait for training 2 (pressed by the portal user), then export it as ONNX and download the file."""
        while self.training2 is None:
            if self.stop.is_set():
                return
            time.sleep(1)
        if self.training2 == "failed":
            return
        body = self.wait_iteration(self.training2, 1800)
        if body["status"] != "Completed":
            self.stats._error("api:GetIteration",
                              f"training 2 ended {body['status']}: {body.get('trainingErrorDetails')}")
            return
        iteration = self.t(f"/iterations/{self.training2}/export")
        t0 = time.perf_counter()
        self.stats.call(self.api, "api:ExportIteration", "POST", iteration, params={"platform": "ONNX"})
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            r = self.stats.call(self.api, "api:GetExports", "GET", iteration)
            exports = r.json() if r is not None and r.status_code == 200 else []
            if exports and exports[0]["status"] != "Exporting":
                break
            time.sleep(2)
        else:
            self.stats._error("api:GetExports", "the export did not finish in 15 minutes")
            return
        export = exports[0]
        if export["status"] != "Done":
            self.stats._error("api:GetExports", f"export {export['status']}")
            return
        uri = export["downloadUri"]
        r = self.stats.call(self.api, "export:download", "GET", uri if "://" in uri else self.base + uri,
                            allow_redirects=True)
        size = len(r.content) if r is not None and r.status_code == 200 else 0
        self.export_note = f"ONNX export of training 2: {size / 1024:.0f} kB in {time.perf_counter() - t0:.1f} s"

    # ------------------------------------------------------------------------------------------ afterwards

    def verify(self) -> list[str]:
        """Every image uploaded and every stored prediction, through the API and the database (rows and files)."""
        from django.core.files.storage import default_storage

        from predictions.models import StoredPrediction
        from projects.models import Image

        lines = []
        api_ids: set[str] = set()
        for skip in range(0, 100_000, 256):
            r = self.api.get(self.t("/images"), params={"take": 256, "skip": skip}, timeout=120)
            page = [i["id"] for i in r.json()]
            api_ids.update(page)
            if len(page) < 256:
                break
        count = self.api.get(self.t("/images/count"), timeout=120).json()
        rows = {str(pk): name for pk, name in Image.objects.filter(project_id=self.ctx["project"])
                .values_list("id", "file")}
        no_file = [pk for pk, name in rows.items() if pk in self.uploaded and not default_storage.exists(name)]
        lines.append(f"images uploaded OK: {len(self.uploaded)}; API lists {len(api_ids)} (count {count}), "
                     f"database {len(rows)}; missing from API {len(self.uploaded - api_ids)}, from the database "
                     f"{len(self.uploaded - set(rows))}, files missing {len(no_file)} (goal 0)")
        self.missing = len(self.uploaded - api_ids) + len(self.uploaded - set(rows)) + len(no_file)

        api_preds: set[str] = set()
        token: dict[str, Any] = {"maxCount": 256}
        while True:
            body = self.api.post(self.t("/predictions/query"), json=token, timeout=120).json()
            api_preds.update(p["id"] for p in body["results"])
            if not body["token"].get("continuation"):
                break
            token = {"maxCount": 256, "continuation": body["token"]["continuation"]}
        stored = {str(pk): name for pk, name in StoredPrediction.objects.filter(project_id=self.ctx["project"])
                  .values_list("id", "file")}
        no_file = [pk for pk, name in stored.items() if pk in self.predictions and not default_storage.exists(name)]
        lines.append(f"stored predictions answered 200: {len(self.predictions)}; API query lists {len(api_preds)}, "
                     f"database {len(stored)}; missing from API {len(self.predictions - api_preds)}, from the "
                     f"database {len(self.predictions - set(stored))}, files missing {len(no_file)} (goal 0)")
        self.missing += len(self.predictions - api_preds) + len(self.predictions - set(stored)) + len(no_file)
        return lines


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=8, help="concurrent prediction clients")
    parser.add_argument("--think", type=float, default=0.25, help="seconds each prediction client waits between calls")
    parser.add_argument("--keep", action="store_true", help="keep the temporary data dir (logs, database)")
    args = parser.parse_args()

    production = bool(os.environ.get("DATABASE_URL"))
    data = Path(tempfile.mkdtemp(prefix="tagsight-soak-"))
    os.environ.update({"TAGSIGHT_DATA_DIR": str(data), "DJANGO_SETTINGS_MODULE": "portal.settings",
                       "PYTHONPATH": str(ROOT), "LOG_LEVEL": os.environ.get("LOG_LEVEL", "WARNING"),
                       # no collectstatic into a throw-away dir: plain static storage (production uses the manifest)
                       "STATICFILES_STORAGE_BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"})
    if not production:
        os.environ["STORAGE_BACKEND"] = "filesystem"
        os.environ.pop("CELERY_BROKER_URL", None)
    profile = (f"production profile (database {os.environ['DATABASE_URL'].split('@')[-1]}, broker "
               f"{os.environ.get('CELERY_BROKER_URL', 'filesystem').split('@')[-1]}, storage "
               f"{os.environ.get('STORAGE_BACKEND', 'filesystem')})" if production
               else "embedded profile (SQLite, filesystem broker and media)")
    t0 = time.perf_counter()
    ctx = setup()
    print(f"{profile}; {os.cpu_count()} CPUs; data dir {data}")
    print(f"setup: user, project and {len(ctx['image_ids'])} quickstart photos in {time.perf_counter() - t0:.1f} s")

    from scripts.serve import web_command

    port = free_port()
    env = dict(os.environ)
    worker = subprocess.Popen(
        [str(BIN / "celery"), "-A", "portal", "worker", "-Q", "training,default", "--concurrency", "1",
         "--loglevel", "WARNING", "--hostname", f"soak-{uuid.uuid4().hex[:6]}@%h"],
        cwd=ROOT, env=env, stdout=(data / "worker.log").open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
    web = subprocess.Popen(web_command(str(port), host="127.0.0.1"), cwd=ROOT, env=env,
                           stdout=(data / "web.log").open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
    code = 1
    try:
        wait_for_port(port, 120)
        wait_for_worker(180)
        soak = Soak(f"http://127.0.0.1:{port}", ctx, args)
        print(f"training 1 through the worker and publishing: {soak.train_and_publish():.1f} s")
        # Warm up: every prediction client loads the model in whichever gunicorn worker answers it.
        # A fresh connection each time, so that every gunicorn worker gets some.
        url = f"{soak.base}/customvision/v3.0/Prediction/{ctx['project']}/classify/iterations/soak/image/nostore"
        for _ in range(4 * args.clients):
            warm = requests.Session()
            warm.headers.update({"Prediction-Key": ctx["prediction_key"], "Connection": "close"})
            soak.stats.call(warm, "prediction:ClassifyImageNoStore (warm-up)", "POST", url,
                            data=soak.photos[0].read_bytes())
        rss: list[tuple[float, float, float]] = []  # (minutes into the traffic, web MiB, worker MiB)

        def sample_rss() -> None:
            while not soak.stop.is_set():
                rss.append(((time.monotonic() - soak.started) / 60, group_rss_mib(web.pid), group_rss_mib(worker.pid)))
                soak.stop.wait(5)

        soak.started = time.monotonic()
        soak.deadline = soak.started + args.minutes * 60
        threads = [threading.Thread(target=soak.predictor, args=(i,), daemon=True) for i in range(args.clients)]
        threads += [threading.Thread(target=f, daemon=True) for f in (soak.api_client, soak.portal_user)]
        threads.append(threading.Thread(target=sample_rss, daemon=True))
        trainer = threading.Thread(target=soak.trainer, daemon=True)
        for thread in [*threads, trainer]:
            thread.start()
        while time.monotonic() < soak.deadline:
            time.sleep(1)
        soak.stop.set()
        for thread in threads:
            thread.join(180)
        elapsed = time.monotonic() - soak.started
        trainer.join(2400)  # training 2 and the export may outlast the traffic
        rss.append(((time.monotonic() - soak.started) / 60, group_rss_mib(web.pid), group_rss_mib(worker.pid)))

        stats = soak.stats
        total = sum(len(v) for v in stats.times.values())
        errors = sum(stats.errors.values())
        print(f"\nsoak: {elapsed / 60:.1f} min of traffic ({args.clients} prediction clients, think {args.think} s), "
              f"{total} requests, errors {errors} (goal 0)")
        print(f"{'route':<44} {'count':>6} {'errors':>6} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
        for route in sorted(stats.times):
            v = stats.times[route]
            print(f"{route:<44} {len(v):>6} {stats.errors.get(route, 0):>6} {pct(v, 0.5):>8.0f} {pct(v, 0.95):>8.0f} "
                  f"{max(v):>8.0f}")
        for sample in stats.samples:
            print(f"  error: {sample}")
        print(f"training 2 (pressed in the portal): {soak.training2 or 'not pressed'}; {soak.export_note}")
        # The first minutes fill caches (each gunicorn worker's model, Pillow and torch buffers, malloc arenas of
        # every thread): growth is judged from the end of the first quarter of the traffic to the end.
        quarter = next((r for r in rss if r[0] >= args.minutes / 4), rss[-1])
        for i, name in ((1, "web (gunicorn master + workers)"), (2, "worker (Celery main + pool)")):
            start, base, end = rss[0][i], quarter[i], rss[-1][i]
            drift = (end - base) / base * 100 if base else float("nan")
            print(f"RSS {name}: {start:.0f} MiB at the start, {base:.0f} MiB at {quarter[0]:.1f} min, "
                  f"{end:.0f} MiB at the end ({drift:+.1f} % since {quarter[0]:.1f} min, goal within 10 %), "
                  f"peak {max(r[i] for r in rss):.0f} MiB")
        for line in soak.verify():
            print(line)
        if soak.predictions:
            print(f"predictions: {len(stats.times['prediction:ClassifyImage']) / elapsed:.1f} req/s, p50 "
                  f"{statistics.median(stats.times['prediction:ClassifyImage']):.0f} ms")
        code = 0 if errors == 0 and soak.missing == 0 and soak.export_note.startswith("ONNX") else 1
    finally:
        for proc in (web, worker):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in (web, worker):
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        if args.keep or code:
            print(f"logs kept in {data}")
        else:
            shutil.rmtree(data, ignore_errors=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
