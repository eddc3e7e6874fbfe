"""A 10,000-image classification project: cold quick training, retrain after 100 more images, pages, memory.

    .venv/bin/python benchmarks/scale.py [--images 10000] [--keep]
    .venv/bin/python benchmarks/scale.py --originals --added 1    # hymenoptera itself (issue #15's 2.5x goal)

On a temporary data dir (embedded profile): makes ``--images`` distinct JPEGs from hymenoptera's 200 photos
(seeded random crops, flips and small rotations, at most 320 px; not timed), uploads them through
projects.services.image_upload into one ants/bees project (timed, as a rate), then measures:

- one embedding pass: every image decoded and embedded once (the "full" view, the trunk prediction runs, with the
  project's domain's recipe: General's 288 px and GeM pooling) in a child process, with a fresh embedding cache: the
  unit the goals are stated in;
- cold quick training: ``training.services.iteration_run`` (what the worker runs) in a child process with an
  empty embedding cache, timed after the imports a worker's pool process makes at start; its peak RSS is the
  worker's;
- retrain after adding 100 new images (the cache holds the rest), in a fresh child process;
- the Training Images page (first grid page) and the iteration page through Django's test client, median of 5.

Goals (issue #15): cold <= 1.5x one embedding pass, retrain <= 10 s, worker RSS <= 2 GiB, pages <= 200 ms.
``--originals`` uploads hymenoptera's own photos instead (cold quick training goal there: <= 2.5x one pass).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import DATASETS, ROOT, setup_django  # benchmarks/ is on sys.path when run as a script

HYMENOPTERA = DATASETS / "hymenoptera"


def make_images(count: int, *, seed: int, offset: int = 0) -> list[tuple[str, bytes]]:
    """``count`` distinct (tag, JPEG bytes) made from hymenoptera's photos by crops, flips and rotations."""
    import numpy as np
    from PIL import Image, ImageOps

    manifest = json.loads((HYMENOPTERA / "manifest.json").read_text())
    sources = []
    for rel, info in sorted(manifest["images"].items()):
        with Image.open(HYMENOPTERA / rel) as im:
            im = ImageOps.exif_transpose(im).convert("RGB")
            im.thumbnail((480, 480))
            sources.append((info["tags"][0], im.copy()))
    rng = np.random.default_rng(seed)
    out = []
    for i in range(offset, offset + count):
        tag, im = sources[i % len(sources)]
        w, h = im.size
        scale = rng.uniform(0.55, 0.95)
        cw, ch = int(w * scale), int(h * scale)
        x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        view = im.crop((x, y, x + cw, y + ch)).rotate(float(rng.uniform(-8, 8)), resample=Image.Resampling.BILINEAR)
        if rng.random() < 0.5:
            view = ImageOps.mirror(view)
        view.thumbnail((320, 320))
        buf = io.BytesIO()
        view.save(buf, format="JPEG", quality=int(rng.integers(80, 93)))
        out.append((tag, buf.getvalue()))
    return out


def originals() -> list[tuple[str, bytes]]:
    """hymenoptera's photos as they are: (tag, file bytes)."""
    manifest = json.loads((HYMENOPTERA / "manifest.json").read_text())
    return [(info["tags"][0], (HYMENOPTERA / rel).read_bytes()) for rel, info in sorted(manifest["images"].items())]


def upload(project: object, images: list[tuple[str, bytes]], tags: dict[str, object], start: int) -> float:
    from projects.services import image_upload

    t0 = time.perf_counter()
    for n, (tag, data) in enumerate(images, start=start):
        result = image_upload(project=project, data=data, filename=f"{n}.jpg", tags=[tags[tag].id])  # type: ignore[attr-defined]
        assert result.ok, result.message
    return time.perf_counter() - t0


CHILD = r"""
import json, os, resource, sys, time
sys.path.insert(0, {root!r})
os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings"
import django
django.setup()
what = sys.argv[1]
if what == "train":  # a worker's pool process has these imported before its first task (training.signals)
    import training.ml.backbones, training.ml.classification, training.ml.predict
t0 = time.perf_counter()
if what == "train":
    from training.models import Iteration
    from training.services import iteration_run
    iteration_run(iteration_id=sys.argv[2])
    it = Iteration.objects.get(id=sys.argv[2])
    m = it.metrics or {{}}
    extra = {{"status": it.status, "error": it.error, "accuracy": m.get("overall", {{}}).get("accuracy"),
             "engine_seconds": m.get("train_seconds")}}
else:  # one embedding pass: every image once, the "full" view, a fresh cache, with the project's domain's recipe
    from training.ml.embeddings import Embedder, embed_images
    from django.core.files.storage import default_storage
    from projects.domains import domain_of
    from projects.models import Image, Project
    domain = domain_of(Project.objects.get(id=sys.argv[2]).domain_id)
    rows = list(Image.objects.filter(project_id=sys.argv[2]).values_list("file", "sha256"))
    embedder = Embedder(domain.backbone, domain.image_size, sys.argv[3], pooling=domain.pooling)
    paths = [default_storage.path(name) for name, _ in rows]
    sources = [lambda p=p: embedder.load(p) for p in paths]
    t0 = time.perf_counter()
    embed_images(sources, [s for _, s in rows], embedder=embedder, views=("full",))
    extra = {{"images": len(rows)}}
seconds = time.perf_counter() - t0
print(json.dumps({{"seconds": seconds, "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  **extra}}))
"""


def child(*args: str) -> dict[str, object]:
    out = subprocess.run([sys.executable, "-c", CHILD.format(root=str(ROOT)), *args], cwd=ROOT, env=os.environ,
                         capture_output=True, text=True, check=False)
    if out.returncode:
        raise SystemExit(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def page_ms(client: object, url: str, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        response = client.get(url)  # type: ignore[attr-defined]
        times.append((time.perf_counter() - t0) * 1000)
        assert response.status_code == 200, response.status_code
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--added", type=int, default=100)
    parser.add_argument("--keep", action="store_true", help="keep the temporary data dir")
    parser.add_argument("--originals", action="store_true", help="hymenoptera's own photos, not --images made ones")
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="tagsight-scale-"))
    try:
        setup_django(str(data_dir))
        from django.conf import settings
        from django.contrib.auth import get_user_model
        from django.test import Client
        from django.urls import reverse

        from projects.services import project_create, tag_create
        from training.services import iteration_queue

        t0 = time.perf_counter()
        images = originals() if args.originals else make_images(args.images, seed=0)
        args.images = len(images)
        print(f"made {len(images)} distinct images in {time.perf_counter() - t0:.1f} s (not part of any figure)")
        user = get_user_model().objects.create_user(username="scale", password="scale-pass-123")
        project = project_create(created_by=user, name="Scale")
        tags = {name: tag_create(project=project, name=name) for name in ("ants", "bees")}
        seconds = upload(project, images, tags, 0)
        print(f"uploaded {len(images)} images in {seconds:.1f} s ({len(images) / seconds:.0f} images/s)")

        cache = Path(settings.DATA_DIR) / "cache" / "embeddings"
        shutil.rmtree(cache, ignore_errors=True)
        scratch = data_dir / "embedding-pass-cache"
        one_pass = child("embed", str(project.id), str(scratch))
        shutil.rmtree(scratch, ignore_errors=True)
        print(f"one embedding pass: {one_pass['seconds']:.1f} s over {one_pass['images']} images "
              f"({1000 * float(one_pass['seconds']) / args.images:.1f} ms/image)")  # type: ignore[arg-type]

        iteration = iteration_queue(project=project, requested_by=user)
        cold = child("train", str(iteration.id))
        assert cold["status"] == "Completed", cold
        ratio = float(cold["seconds"]) / float(one_pass["seconds"])  # type: ignore[arg-type]
        print(f"cold quick training: {cold['seconds']:.1f} s = {ratio:.2f}x one embedding pass (goal <= 1.5x); "
              f"accuracy {cold['accuracy']}; worker peak RSS {cold['peak_rss_mib']:.0f} MiB (goal <= 2048)")

        seconds = upload(project, make_images(args.added, seed=1, offset=args.images), tags, args.images)
        again = iteration_queue(project=project, requested_by=user)
        warm = child("train", str(again.id))
        assert warm["status"] == "Completed", warm
        print(f"retrain after adding {args.added} images: {warm['seconds']:.1f} s (goal <= 10 s); "
              f"peak RSS {warm['peak_rss_mib']:.0f} MiB")

        client = Client()
        client.force_login(user)
        grid = page_ms(client, reverse("projects:project-detail", args=[project.id]))
        it_page = page_ms(client, reverse("training:iteration-detail", args=[again.id]))
        print(f"pages (median of 5): Training Images {grid:.0f} ms, iteration {it_page:.0f} ms (goal <= 200 ms)")
        print(f"this process peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    finally:
        if args.keep:
            print(f"kept {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
