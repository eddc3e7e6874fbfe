"""Click-to-Completed: press Train in the browser, wait until the Performance tab shows the numbers.

    .venv/bin/python benchmarks/train_click.py [--dataset hymenoptera] [--runs 3]

Starts what `make serve` starts (gunicorn 2x4 + one Celery worker, -Q training,default, concurrency 1) on a
temporary data dir and SQLite file, uploads the dataset through projects.services.image_upload (not timed),
signs in with Debian's Chromium and, per run, clicks Train (Quick) and waits for the per-tag table.
Run 1 is the first training after the worker started (cold pool process, cold embedding cache); each later
run first adds one new image (so there is something new to train) with a warm worker and cache.
Prints, per run: click→table wall time, and its parts from the iteration's timestamps (queue wait,
worker time, engine time, time until the page showed it), plus the worker pool process's peak RSS.

Then (unless --no-stops) two stop figures on an Advanced training (10-minute budget) that is running:
- cancel→stopped: click "Cancel training" until the worker has really stopped the job (goal <= 30 s);
- SIGKILL→lost: kill the worker's whole process group (the machine is gone) while the iteration page is
  open; its status polling reaps the job, so this is the time until it reads Failed, "Worker lost"
  (goal <= 60 s). The worker stays dead, so this one comes last.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

from _common import BIN, DATASETS, ROOT, free_port  # benchmarks/ is on sys.path when run as a script

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run"]


def django(env: dict[str, str], code: str) -> str:
    script = "import django; django.setup()\n" + code
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if out.returncode:
        raise SystemExit(out.stderr[-3000:])
    return out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""


def add_new_image(env: dict[str, str], project_id: str) -> None:
    """Something new to train: one more image (unique bytes after the JPEG end)."""
    django(env, f"""
from projects.models import Project
from tests.training.builders import add_image
p = Project.objects.get(id={project_id!r}); tag = p.tags.order_by("name").first()
src = tag.images.order_by("created").first()
add_image(p, tags=[tag], data=src.file.read() + b"{uuid.uuid4().hex}")
""")


def latest_iteration(db: Path) -> sqlite3.Row:
    with sqlite3.connect(db, timeout=20) as con:
        con.row_factory = sqlite3.Row
        return con.execute("SELECT * FROM training_iteration ORDER BY number DESC LIMIT 1").fetchone()


def wait_until(db: Path, predicate, timeout: float, what: str) -> sqlite3.Row:  # type: ignore[no-untyped-def]
    """Poll the latest iteration's row until ``predicate(row)``; returns the row."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = latest_iteration(db)
        if row is not None and predicate(row):
            return row
        time.sleep(0.1)
    raise SystemExit(f"{what}: not reached within {timeout:.0f} s; last row: {dict(row) if row else None}")


def start_advanced(page, base: str, env: dict[str, str], project_id: str, db: Path) -> None:  # type: ignore[no-untyped-def]
    """Add an image, press Train (Advanced, 10 minutes) and wait until the worker is well into the job."""
    add_new_image(env, project_id)
    page.goto(f"{base}/projects/{project_id}/train")
    page.check("input[name=training_type][value=Advanced]")
    page.fill("input[name=budget_minutes]", "10")
    page.click("#train-button")
    page.wait_for_selector("#cancel-button")
    wait_until(db, lambda r: r["status"] == "Training" and r["started"] and r["progress"] > 0.05, 300, "running")


def ts(value: str | None) -> float:
    return datetime.fromisoformat(value).timestamp() if value else float("nan")


def peak_rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="hymenoptera")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--stops", action=argparse.BooleanOptionalAction, default=True,
                        help="also time cancel→stopped and SIGKILL→lost (default: yes)")
    args = parser.parse_args()

    data = Path(tempfile.mkdtemp(prefix="tagsight-bench-train-"))
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings", "TAGSIGHT_DATA_DIR": str(data),
           "DATABASE_URL": f"sqlite:///{data / 'tagsight.sqlite3'}", "PYTHONPATH": str(ROOT), "LOG_LEVEL": "WARNING"}
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"], cwd=ROOT, env=env,
                   check=True)
    t = time.perf_counter()
    project_id = django(env, f"""
from django.contrib.auth import get_user_model
from tests.training.builders import dataset_project
from pathlib import Path
user = get_user_model().objects.create_user(username="bench", password="bench-pass-123")
print(dataset_project(user, Path({str(DATASETS / args.dataset)!r}), name="Bench").id)
""")
    print(f"setup: {args.dataset} uploaded in {time.perf_counter() - t:.1f} s (not part of the figure)")

    port = free_port()
    worker = subprocess.Popen(
        [str(BIN / "celery"), "-A", "portal", "worker", "-Q", "training,default", "--concurrency", "1",
         "--loglevel", "WARNING", "--hostname", "bench@%h"],
        cwd=ROOT, env=env, stdout=(data / "worker.log").open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
    web = subprocess.Popen(
        [str(BIN / "gunicorn"), "portal.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "2", "--threads", "4",
         "--timeout", "120"],
        cwd=ROOT, env=env, stdout=(data / "web.log").open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
    db = data / "tagsight.sqlite3"
    rows = []
    stops: dict[str, float] = {}
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with sqlite3.connect(db, timeout=20) as con:
                if con.execute("SELECT count(*) FROM training_workerheartbeat").fetchone()[0]:
                    break
            time.sleep(0.3)
        else:
            raise SystemExit("the worker never beat; see " + str(data / "worker.log"))
        from playwright.sync_api import sync_playwright

        base = f"http://127.0.0.1:{port}"
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1366, "height": 900})
            page.set_default_timeout(600_000)
            for _ in range(100):
                try:
                    page.goto(f"{base}/accounts/login/")
                    break
                except Exception:  # noqa: BLE001 - gunicorn still starting
                    time.sleep(0.2)
            page.fill("input[name=username]", "bench")
            page.fill("input[name=password]", "bench-pass-123")
            page.click("button[type=submit]")
            page.wait_for_load_state()
            for run in range(1, args.runs + 1):
                if run > 1:
                    add_new_image(env, project_id)
                page.goto(f"{base}/projects/{project_id}/train")
                page.check("input[name=training_type][value=Regular]")
                t0 = time.perf_counter()
                clicked = time.time()
                page.click("#train-button")
                page.wait_for_selector("#tag-table")
                wall = time.perf_counter() - t0
                shown = time.time()
                it = latest_iteration(db)
                metrics = json.loads(it["metrics"] or "{}")
                rows.append({
                    "run": run, "wall": wall, "status": it["status"],
                    "queue": ts(it["started"]) - ts(it["created"]),
                    "worker": ts(it["finished"]) - ts(it["started"]),
                    "engine": float(metrics.get("train_seconds") or float("nan")),
                    "page": shown - ts(it["finished"]),
                    "click_to_created": ts(it["created"]) - clicked,
                    "rss": peak_rss_mib(int(it["worker_pid"])),
                    "accuracy": (metrics.get("overall") or {}).get("accuracy"),
                    "images": it["image_count"],
                })
            if args.stops:
                start_advanced(page, base, env, project_id, db)
                t0 = time.perf_counter()
                page.click("#cancel-button")
                wait_until(db, lambda r: "worker stopped" in (r["stage"] or ""), 300, "worker stopped")
                stops["cancel→stopped"] = time.perf_counter() - t0
                # The user keeps watching the iteration page; its status polling reaps the lost job.
                start_advanced(page, base, env, project_id, db)
                os.killpg(worker.pid, signal.SIGKILL)  # main process and pool child at once
                worker.wait(timeout=10)
                t0 = time.perf_counter()
                wait_until(db, lambda r: r["status"] == "Failed" and (r["error"] or "").startswith("Worker lost"),
                           300, "failed as lost")
                stops["SIGKILL→lost"] = time.perf_counter() - t0
            browser.close()
    finally:
        for proc in (web, worker):
            if proc.poll() is None:
                proc.terminate()
        for proc in (web, worker):
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()

    print(f"\nclick-to-Completed, quick training on {args.dataset} (gunicorn 2x4 + 1 Celery worker, 2 cores)")
    print("run  images  click→table  (click→queued  queue wait  worker  of which engine  done→page)  pool RSS  acc")
    for r in rows:
        print(f"{r['run']:>3}  {r['images']:>6}  {r['wall']:>9.2f} s  ({r['click_to_created']:>9.2f} s  "
              f"{r['queue']:>8.2f} s  {r['worker']:>5.2f} s  {r['engine']:>13.2f} s  {r['page']:>7.2f} s)  "
              f"{r['rss']:>6.0f} MiB  {r['accuracy'] or float('nan'):.3f}  {r['status']}")
    if stops:
        print(f"\nstopping a running Advanced training: cancel→stopped {stops['cancel→stopped']:.1f} s (goal <= 30 s), "
              f"SIGKILL→lost {stops['SIGKILL→lost']:.1f} s (goal <= 60 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
