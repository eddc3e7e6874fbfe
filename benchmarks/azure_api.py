"""Azure API figures: 1,000 images through create_images_from_files (batches of 64) and prediction latency.

    .venv/bin/python benchmarks/azure_api.py [--images 1000] [--batch 64] [--big-batch]

Starts its own server exactly like `make serve` does (gunicorn, 2 workers x 4 threads) on a temporary
data dir, drives it with Microsoft's Python SDK, and prints wall times and the web workers' peak RSS.
Images are the real photos of ../shared/datasets, each made unique by bytes after the JPEG end marker
(decoders ignore them), so every upload is decoded, verified and thumbnailed for real.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from _common import BIN, DATASETS, ROOT, free_port  # benchmarks/ is on sys.path when run as a script


def peak_rss_mb(pids: list[int]) -> float:
    peak = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        except OSError:
            continue
    return peak / 1024


def children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [int(p) for p in out]


def photos() -> list[bytes]:
    files = sorted(DATASETS.glob("azure-quickstart/classification/**/*.jpg")) + sorted(
        DATASETS.glob("hymenoptera/**/*.jpg")
    )
    return [f.read_bytes() for f in files]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--big-batch", action="store_true", help="also send one 64 x ~6 MB batch and report RSS")
    parser.add_argument("--predictions", type=int, default=30, help="classify_image calls to time (0: skip)")
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="tagsight-bench-"))
    env = {**os.environ, "TAGSIGHT_DATA_DIR": str(data_dir), "DJANGO_SETTINGS_MODULE": "portal.settings"}
    env.pop("DATABASE_URL", None)
    subprocess.run([str(BIN / "python"), "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    keys = subprocess.run(
        [str(BIN / "python"), "manage.py", "apikeys", "bench"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    found = dict(line.split("=", 1) for line in keys.splitlines() if "=" in line)
    port = free_port()
    # Exactly `make serve`: scripts/serve.py starts gunicorn (2 workers x 4 threads) and a Celery worker.
    serve = subprocess.Popen(
        [str(BIN / "python"), "scripts/serve.py"],
        cwd=ROOT,
        start_new_session=True,
        env={**env, "PORT": str(port), "TAGSIGHT_ADMIN_PASSWORD": "bench-admin"},
        stdout=open(data_dir / "serve.log", "wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        endpoint = f"http://127.0.0.1:{port}"
        for _ in range(600):
            try:
                with urllib.request.urlopen(f"{endpoint}/healthz", timeout=5) as r:
                    if json.load(r).get("worker", {}).get("ok"):
                        break
            except (OSError, ValueError):
                pass
            time.sleep(0.5)
        web_pid = int(
            subprocess.run(
                ["pgrep", "-P", str(serve.pid), "-f", "gunicorn"], capture_output=True, text=True
            ).stdout.split()[0]
        )
        return run(endpoint, found["TRAINING_KEY"], found["PREDICTION_KEY"], web_pid, args)
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(60)


def run(endpoint: str, training_key: str, prediction_key: str, web_pid: int, args: argparse.Namespace) -> int:
    from azure.cognitiveservices.vision.customvision.training import CustomVisionTrainingClient
    from azure.cognitiveservices.vision.customvision.training.models import ImageFileCreateBatch, ImageFileCreateEntry
    from msrest.authentication import ApiKeyCredentials

    trainer = CustomVisionTrainingClient(endpoint, ApiKeyCredentials(in_headers={"Training-key": training_key}))
    trainer.config.retry_policy.retries = 0
    for _ in range(8):
        trainer.get_domains()  # let both workers load the app
    print(f"web workers' peak RSS after start-up: {peak_rss_mb(children(web_pid)):.0f} MB")
    project = trainer.create_project("bench")
    tag = trainer.create_tag(project.id, "photo")
    pool = photos()
    images = [pool[i % len(pool)] + b"\x00tagsight-bench-" + str(i).encode() for i in range(args.images)]
    total_mb = sum(len(i) for i in images) / 1e6
    print(
        f"{len(images)} real photos ({total_mb:.0f} MB, mean {total_mb / len(images) * 1000:.0f} kB), "
        f"batches of {args.batch}"
    )
    start = time.perf_counter()
    statuses: dict[str, int] = {}
    for i in range(0, len(images), args.batch):
        entries = [
            ImageFileCreateEntry(name=f"{j}.jpg", contents=images[j], tag_ids=[tag.id])
            for j in range(i, min(i + args.batch, len(images)))
        ]
        summary = trainer.create_images_from_files(project.id, ImageFileCreateBatch(images=entries))
        for r in summary.images:
            statuses[r.status] = statuses.get(r.status, 0) + 1
    elapsed = time.perf_counter() - start
    print(
        f"create_images_from_files: {len(images)} images in {elapsed:.1f} s "
        f"({len(images) / elapsed:.1f} images/s); statuses {statuses}"
    )
    print(f"count check: {trainer.get_image_count(project.id)} images in the project")
    print(f"web workers' peak RSS: {peak_rss_mb(children(web_pid)):.0f} MB")

    if args.big_batch:
        big = [os.urandom(6 * 1024 * 1024 - 1024) for _ in range(64)]  # the worst-case 64 x 6 MB request
        entries = [ImageFileCreateEntry(name=f"big{j}", contents=b) for j, b in enumerate(big)]
        start = time.perf_counter()
        summary = trainer.create_images_from_files(project.id, ImageFileCreateBatch(images=entries))
        print(
            f"64 x 6 MB batch (not images: each is rejected, all are parsed): {time.perf_counter() - start:.1f} s, "
            f"statuses {sorted({r.status for r in summary.images})}, "
            f"web workers' peak RSS now {peak_rss_mb(children(web_pid)):.0f} MB"
        )
    if args.predictions:
        predict_latency(endpoint, trainer, prediction_key, args.predictions)
    return 0


def predict_latency(endpoint: str, trainer: Any, prediction_key: str, n: int) -> None:
    """Train the classification quickstart (real worker), publish it, time classify_image through the SDK."""
    from azure.cognitiveservices.vision.customvision.prediction import CustomVisionPredictionClient
    from azure.cognitiveservices.vision.customvision.training.models import ImageFileCreateBatch, ImageFileCreateEntry
    from msrest.authentication import ApiKeyCredentials

    manifest = json.loads((DATASETS / "azure-quickstart" / "manifest.json").read_text())["classification"]
    project = trainer.create_project("latency")
    tags = {name: trainer.create_tag(project.id, name).id for name in manifest["tags"]}
    entries = [
        ImageFileCreateEntry(
            name=i["file"], contents=(DATASETS / "azure-quickstart" / i["file"]).read_bytes(), tag_ids=[tags[i["tag"]]]
        )
        for i in manifest["train"]
    ]
    trainer.create_images_from_files(project.id, ImageFileCreateBatch(images=entries))
    start = time.perf_counter()
    iteration = trainer.train_project(project.id)
    while iteration.status == "Training":
        time.sleep(1)
        iteration = trainer.get_iteration(project.id, iteration.id)
    print(f"classification quickstart trained by the worker: {iteration.status} in {time.perf_counter() - start:.0f} s")
    trainer.publish_iteration(project.id, iteration.id, "bench", "bench")
    predictor = CustomVisionPredictionClient(endpoint, ApiKeyCredentials(in_headers={"Prediction-key": prediction_key}))
    data = (DATASETS / "azure-quickstart" / manifest["test"][0]["file"]).read_bytes()
    times = []
    for _ in range(n + 2):  # the first call in each of the 2 web workers loads the model
        t0 = time.perf_counter()
        predictor.classify_image_with_no_store(project.id, "bench", data)
        times.append((time.perf_counter() - t0) * 1000)
    cold, warm = times[:2], sorted(times[2:])
    print(
        f"classify_image_with_no_store through the SDK ({len(data) // 1024} kB JPEG): first calls "
        f"{cold[0]:.0f} / {cold[1]:.0f} ms (model load), then median {warm[len(warm) // 2]:.0f} ms, "
        f"p90 {warm[int(len(warm) * 0.9)]:.0f} ms over {len(warm)} calls"
    )


if __name__ == "__main__":
    sys.exit(main())
