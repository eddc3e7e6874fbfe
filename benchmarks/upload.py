"""Upload throughput and image-grid server time, through the portal's own endpoints (Django test Client).

    .venv/bin/python benchmarks/upload.py [--images 1000] [--rows 20000] [--clients 1 2]

Sets up Django on a throw-away TAGSIGHT_DATA_DIR (SQLite + media on local disk, the embedded profile),
creates a user and a project, then:
1. uploads N real-size JPEGs (1600x1200, made from the shared dataset's photos, each one different so
   every SHA-256 differs) to the upload endpoint, one file per request as the browser does, with one tag
   for the batch; prints images/s (goal >= 30/s on 2 cores) for 1 client, then for 2 concurrent clients;
2. bulk-creates rows up to 200 and then 20,000 images (sharing a few small files) and prints the
   Training images page's server time and query count for both sizes (goal <= 150 ms, equal counts).
"""

from __future__ import annotations

import argparse
import io
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor

from _common import DATASETS, setup_django  # benchmarks/ is on sys.path when run as a script


def _make_jpeg(args: tuple[str, int]) -> bytes:
    """A 1600x1200 camera-like JPEG from a dataset photo: random crop, flip, tint, so every file differs."""
    from PIL import Image, ImageEnhance

    path, seed = args
    rng = random.Random(seed)
    with Image.open(path) as src:
        img = src.convert("RGB")
    w, h = img.size
    crop_w = int(min(w, h * 4 / 3) * rng.uniform(0.8, 1.0))
    crop_h = int(crop_w * 3 / 4)
    left, top = rng.randint(0, w - crop_w), rng.randint(0, h - crop_h)
    img = img.crop((left, top, left + crop_w, top + crop_h)).resize((1600, 1200), Image.Resampling.BICUBIC)
    if rng.random() < 0.5:
        img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    img = ImageEnhance.Brightness(img).enhance(rng.uniform(0.85, 1.15))
    img.putpixel((seed % 1600, (seed // 1600) % 1200), (seed % 256, 7, 11))  # distinct bytes, always
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def make_jpegs(count: int) -> list[bytes]:
    sources = sorted(str(p) for p in DATASETS.rglob("*.jpg"))
    if not sources:
        sys.exit(f"no JPEGs under {DATASETS}")
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        return list(pool.map(_make_jpeg, [(sources[i % len(sources)], i) for i in range(count)], chunksize=16))


def upload_all(project, user, tag, jpegs: list[bytes], clients: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Post every JPEG to the upload endpoint from `clients` threads; returns (images/s, images per CPU-second)."""
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.db import connection
    from django.test import Client
    from django.urls import reverse

    url = reverse("projects:image-upload", args=[project.id])
    work = list(enumerate(jpegs))
    lock = threading.Lock()
    failures: list[str] = []

    def run() -> None:
        client = Client()
        client.force_login(user)
        while True:
            with lock:
                if not work:
                    break
                i, data = work.pop()
            response = client.post(
                url,
                {"file": SimpleUploadedFile(f"photo_{i:05d}.jpg", data, "image/jpeg"), "tags": [str(tag.id)]},
                HTTP_ACCEPT="application/json",
            )
            if response.status_code != 201:
                failures.append(f"{i}: {response.status_code} {response.content[:200]!r}")
        connection.close()

    threads = [threading.Thread(target=run) for _ in range(clients)]
    start, cpu_start = time.perf_counter(), time.process_time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    if failures:
        sys.exit(f"{len(failures)} uploads failed, e.g. {failures[:3]}")
    # CPU seconds per image tell what the machine can do when other work competes for its cores.
    return len(jpegs) / elapsed, len(jpegs) / cpu


def grid_timing(client, project, runs: int = 30, **params: str) -> tuple[float, float, int]:  # type: ignore[no-untyped-def]
    """(median ms, p90 ms, queries) of the Training images page for this project."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    url = reverse("projects:project-detail", args=[project.id])
    for _ in range(3):  # warm caches (templates, SQLite pages)
        assert client.get(url, params).status_code == 200
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        response = client.get(url, params)
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200
    with CaptureQueriesContext(connection) as ctx:
        client.get(url, params)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.9)], len(ctx.captured_queries)


def grow_to(project, first_image, total: int, tags) -> None:  # type: ignore[no-untyped-def]
    """Bulk-create rows up to `total` images, sharing the first image's files; every 3rd untagged."""
    from projects.models import Image

    have = Image.objects.filter(project=project).count()
    rows = [
        Image(
            project=project,
            file=first_image.file.name,
            display=first_image.display.name,
            thumbnail=first_image.thumbnail.name,
            original_name=f"bulk_{i:06d}.jpg",
            content_type="image/jpeg",
            width=first_image.width,
            height=first_image.height,
            sha256=f"{i:064x}",
        )
        for i in range(have, total)
    ]
    Image.objects.bulk_create(rows, batch_size=2000)
    through = Image.tags.through
    links = [through(image_id=row.id, tag_id=tags[i % len(tags)].id) for i, row in enumerate(rows) if i % 3]
    through.objects.bulk_create(links, batch_size=5000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="tagsight-bench-") as data_dir:
        setup_django(data_dir)
        from django.contrib.auth import get_user_model
        from django.test import Client

        from projects import services
        from projects.models import Image

        print(f"cpus: {os.cpu_count()}  load avg: {os.getloadavg()[0]:.1f}  data dir: {data_dir}")
        t0 = time.perf_counter()
        jpegs = make_jpegs(args.images)
        print(
            f"made {len(jpegs)} JPEGs 1600x1200 (mean {statistics.mean(map(len, jpegs)) / 1e3:.0f} kB) "
            f"in {time.perf_counter() - t0:.1f} s"
        )
        user = get_user_model().objects.create_user(username="bench", password="bench-pass-123")
        for clients in args.clients:
            project = services.project_create(created_by=user, name=f"Upload x{clients}")
            tag = services.tag_create(project=project, name="bench")
            rate, per_cpu_second = upload_all(project, user, tag, jpegs, clients)
            stored = Image.objects.filter(project=project, tags=tag).count()
            print(
                f"upload, {clients} client{'s' if clients > 1 else ''}: {rate:.1f} images/s wall "
                f"({per_cpu_second:.1f} images per CPU-second; {stored} stored, load avg {os.getloadavg()[0]:.1f})"
            )

        client = Client()
        client.force_login(user)
        project = services.project_create(created_by=user, name="Grid")
        tags = [services.tag_create(project=project, name=n) for n in ("ants", "bees", "wasps")]
        first = services.image_upload(project=project, data=jpegs[0], filename="first.jpg", tags=[tags[0]]).image
        results = {}
        for total in (200, args.rows):
            grow_to(project, first, total, tags)
            for label, params in (("all", {}), ("tag", {"tag": str(tags[1].id)}), ("untagged", {"filter": "untagged"})):
                median, p90, queries = grid_timing(client, project, **params)
                results[(total, label)] = queries
                print(
                    f"grid, {total:>6} images, filter {label:<8}: median {median:6.1f} ms, p90 {p90:6.1f} ms, "
                    f"{queries} queries"
                )
        same = all(results[(200, k)] == results[(args.rows, k)] for k in ("all", "tag", "untagged"))
        print(f"query count independent of project size: {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
