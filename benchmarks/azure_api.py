"""Azure API figures: 1,000 images through create_images_from_files (batches of 64) and prediction latency.

    .venv/bin/python benchmarks/azure_api.py [--images 1000] [--batch 64] [--big-batch]

Starts its own server exactly like `make serve` does (gunicorn, 2 workers x 4 threads) on a temporary
data dir, drives it with Microsoft's Python SDK, and prints wall times and the web workers' peak RSS.
Images are the real photos of ../shared/datasets, each made unique by bytes after the JPEG end marker
(decoders ignore them), so every upload is decoded, verified and thumbnailed for real.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATASETS = ROOT.parent / "shared" / "datasets"
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
    files = sorted(DATASETS.glob("azure-quickstart/classification/**/*.jpg")) + sorted(DATASETS.glob("hymenoptera/**/*.jpg"))
    return [f.read_bytes() for f in files]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--big-batch", action="store_true", help="also send one 64 x ~6 MB batch and report RSS")
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="tagsight-bench-"))
    env = {**os.environ, "TAGSIGHT_DATA_DIR": str(data_dir), "DJANGO_SETTINGS_MODULE": "portal.settings"}
    env.pop("DATABASE_URL", None)
    subprocess.run([str(BIN / "python"), "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    keys = subprocess.run([str(BIN / "python"), "manage.py", "apikeys", "bench"], cwd=ROOT, env=env, check=True,
                          capture_output=True, text=True).stdout
    found = dict(line.split("=", 1) for line in keys.splitlines() if "=" in line)
    port = free_port()
    web = subprocess.Popen([str(BIN / "gunicorn"), "portal.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "2",
                            "--threads", "4", "--timeout", "300", "--log-level", "warning"], cwd=ROOT, env=env)
    try:
        endpoint = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        return run(endpoint, found["TRAINING_KEY"], found["PREDICTION_KEY"], web.pid, args)
    finally:
        web.terminate()
        web.wait(30)


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
    print(f"{len(images)} real photos ({total_mb:.0f} MB, mean {total_mb / len(images) * 1000:.0f} kB), "
          f"batches of {args.batch}")
    start = time.perf_counter()
    statuses: dict[str, int] = {}
    for i in range(0, len(images), args.batch):
        entries = [ImageFileCreateEntry(name=f"{j}.jpg", contents=images[j], tag_ids=[tag.id])
                   for j in range(i, min(i + args.batch, len(images)))]
        summary = trainer.create_images_from_files(project.id, ImageFileCreateBatch(images=entries))
        for r in summary.images:
            statuses[r.status] = statuses.get(r.status, 0) + 1
    elapsed = time.perf_counter() - start
    print(f"create_images_from_files: {len(images)} images in {elapsed:.1f} s "
          f"({len(images) / elapsed:.1f} images/s); statuses {statuses}")
    print(f"count check: {trainer.get_image_count(project.id)} images in the project")
    print(f"web workers' peak RSS: {peak_rss_mb(children(web_pid)):.0f} MB")

    if args.big_batch:
        big = [os.urandom(6 * 1024 * 1024 - 1024) for _ in range(64)]  # the worst-case 64 x 6 MB request
        entries = [ImageFileCreateEntry(name=f"big{j}", contents=b) for j, b in enumerate(big)]
        start = time.perf_counter()
        summary = trainer.create_images_from_files(project.id, ImageFileCreateBatch(images=entries))
        print(f"64 x 6 MB batch (not images: each is rejected, all are parsed): {time.perf_counter() - start:.1f} s, "
              f"statuses {sorted({r.status for r in summary.images})}, "
              f"web workers' peak RSS now {peak_rss_mb(children(web_pid)):.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
