"""Labeling figures: the labeler page's server time for a 4000x3000 image and a box save's round trip.

    .venv/bin/python benchmarks/labeling.py [--runs 50] [--images 2000] [--regions 30]

Sets up Django on a throw-away TAGSIGHT_DATA_DIR (SQLite + media on local disk, the embedded profile),
uploads one real 4000x3000 JPEG (made from a shared dataset photo) through projects.services.image_upload,
gives it some boxes, adds more image rows so "23 of 2000" navigation has work to do, then times, through
Django's test Client (the whole request inside Django: middleware, view, queries, template):
1. GET the detection labeler page (goal <= 300 ms);
2. POST a box (create), move it (update), delete it: each answers the #region-list fragment (goal <= 50 ms);
3. GET the display rendition the page shows (the 4000x3000 original is never sent to the browser).
"""

from __future__ import annotations

import argparse
import io
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable

from _common import DATASETS, setup_django  # benchmarks/ is on sys.path when run as a script


def big_jpeg() -> bytes:
    """A 4000x3000 JPEG upscaled from a dataset photo (a flat colour if the datasets are missing)."""
    from PIL import Image

    sources = sorted(DATASETS.glob("azure-quickstart/detection/**/*.jpg"))
    img = Image.open(sources[0]).convert("RGB").resize((4000, 3000), Image.Resampling.BICUBIC) if sources else (
        Image.new("RGB", (4000, 3000), (120, 110, 100))
    )
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=85)
    return buf.getvalue()


def timed(fn: Callable[[], object], runs: int) -> tuple[float, float, list[float]]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1], times


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--images", type=int, default=2000, help="image rows in the project (navigation)")
    parser.add_argument("--regions", type=int, default=30, help="boxes already on the labeled image")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="tagsight-bench-") as data_dir:
        setup_django(data_dir)
        from django.contrib.auth import get_user_model
        from django.db import connection
        from django.test import Client
        from django.urls import reverse

        from labeling.services import region_create
        from projects.models import Image
        from projects.services import image_upload, project_create, tag_create

        user = get_user_model().objects.create_user(username="bench", password="bench-pass-123")
        project = project_create(created_by=user, name="Bench", project_type="detection")
        tags = [tag_create(project=project, name=f"tag{i}") for i in range(8)]
        data = big_jpeg()
        result = image_upload(project=project, data=data, filename="big.jpg")
        assert result.status == "OK", result.message
        image = result.image
        print(f"image: {image.width}x{image.height}, {len(data) / 1e6:.1f} MB original")
        for i in range(args.regions):
            region_create(image=image, tag=tags[i % len(tags)], left=(i % 10) / 10, top=(i // 10) / 10, width=0.08,
                          height=0.08)
        # More rows sharing the same files: navigation counts and neighbours run over a real-size project.
        Image.objects.bulk_create(
            Image(project=project, file=image.file.name, display=image.display.name, thumbnail=image.thumbnail.name,
                  width=image.width, height=image.height, sha256=uuid.uuid4().hex * 2)
            for _ in range(args.images - 1)
        )
        client = Client()
        client.force_login(user)
        hx = {"HTTP_HX_REQUEST": "true"}

        page_url = reverse("labeling:labeler", args=[image.id]) + "?filter=tagged"

        def get_page() -> None:
            response = client.get(page_url)
            assert response.status_code == 200, response.status_code

        get_page()
        queries: list[str] = []  # counted by a wrapper: request_started resets connection.queries

        def count(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
            queries.append(sql)
            return execute(sql, params, many, context)

        with connection.execute_wrapper(count):
            get_page()
        median, p95, _ = timed(get_page, args.runs)
        print(f"labeler page (4000x3000, {args.regions} boxes, {args.images} images): median {median:.1f} ms, "
              f"p95 {p95:.1f} ms, {len(queries)} queries (goal <= 300 ms)")

        create_url = reverse("labeling:region-create", args=[image.id])
        box = {"left": "0.41", "top": "0.42", "width": "0.1", "height": "0.1"}
        created: list[str] = []

        def create() -> None:
            region_id = str(uuid.uuid4())
            response = client.post(create_url, {**box, "tag": tags[0].id, "id": region_id}, **hx)
            assert response.status_code == 201, response.content
            created.append(region_id)

        def update() -> None:
            url = reverse("labeling:region-update", args=[created[-1]])
            response = client.post(url, {**box, "left": "0.5", "tag": tags[1].id}, **hx)
            assert response.status_code == 200, response.content

        def delete() -> None:
            response = client.post(reverse("labeling:region-delete", args=[created.pop()]), **hx)
            assert response.status_code == 200, response.content

        runs = min(args.runs, 250)
        create_ms, create_p95, _ = timed(create, runs)
        update_ms, update_p95, _ = timed(update, runs)
        delete_ms, delete_p95, _ = timed(delete, runs)
        print(f"box save round trip (server): create median {create_ms:.1f} ms (p95 {create_p95:.1f}), "
              f"update {update_ms:.1f} ms (p95 {update_p95:.1f}), delete {delete_ms:.1f} ms (p95 {delete_p95:.1f}) "
              "(goal <= 50 ms)")

        display_url = reverse("projects:image-file", args=[image.id, "display"])

        def get_display() -> None:
            response = client.get(display_url)
            b"".join(response.streaming_content)

        display_ms, _, _ = timed(get_display, 20)
        size = len(b"".join(client.get(display_url).streaming_content))
        print(f"display rendition: {size / 1e3:.0f} kB JPEG, served in median {display_ms:.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
