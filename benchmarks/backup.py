"""Backup and restore time and size for an installation of N images (default 10,000), embedded profile.

    .venv/bin/python benchmarks/backup.py [--images 10000] [--keep]

Sets up Django on a throw-away TAGSIGHT_DATA_DIR (SQLite + media on local disk), creates a user and a
classification project with two tags, and N generated images stored the way projects.services.image_upload
stores them (two files each, original and thumbnail, then the row; written in bulk here because 10,000 uploads
through the full upload path would take longer than the backup being measured). The images are 64x48 JPEGs of
random noise (quality 90, about 3 KB each, every one different), half tagged "A", half "B". Then it runs
`manage.py backup OUT` and `manage.py restore OUT` (onto a second, fresh data dir) as separate processes, as an
operator would, and prints their wall time and the sizes.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, setup_django  # benchmarks/ is on sys.path when run as a script


def noise_jpeg(seed: int) -> bytes:
    from PIL import Image

    rng = random.Random(seed)
    img = Image.frombytes("RGB", (64, 48), bytes(rng.getrandbits(8) for _ in range(64 * 48 * 3)))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def stored_image(*, project, seed: int):  # type: ignore[no-untyped-def]
    """An Image row and its two stored files as image_upload leaves them (original, thumbnail; display = original)."""
    import hashlib
    import uuid

    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from projects.models import Image

    data = noise_jpeg(seed)
    image_id = uuid.uuid4()
    folder = f"projects/{project.id}/images/{image_id}"
    original = default_storage.save(f"{folder}/original.jpg", ContentFile(data))
    thumbnail = default_storage.save(f"{folder}/thumbnail.jpg", ContentFile(data))
    return Image(id=image_id, project=project, file=original, display=original, thumbnail=thumbnail,
                 original_name=f"{seed}.jpg", width=64, height=48, sha256=hashlib.sha256(data).hexdigest())


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--keep", action="store_true", help="keep the data dirs and the archive")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tagsight-bench-backup-"))
    source, target, archive = work / "source", work / "target", work / "backup.zip"
    source.mkdir()
    setup_django(str(source))
    from django.contrib.auth import get_user_model

    from projects.models import Image, Project, Tag
    from workspaces.services import personal_workspace_ensure

    user = get_user_model().objects.create_user(username="bench", password="bench-pass-123")
    project = Project.objects.create(name="Bench", workspace=personal_workspace_ensure(user=user), created_by=user)
    tags = [Tag.objects.create(project=project, name=name) for name in ("A", "B")]
    started = time.monotonic()
    for first in range(0, args.images, 500):
        batch = range(first, min(first + 500, args.images))
        images = [stored_image(project=project, seed=i) for i in batch]
        Image.objects.bulk_create(images)
        Image.tags.through.objects.bulk_create(
            Image.tags.through(image_id=image.id, tag_id=tags[i % 2].id) for i, image in zip(batch, images, strict=True)
        )
    print(f"made {args.images} images in {time.monotonic() - started:.0f} s "
          f"(media {folder_bytes(source / 'media') / 1e6:.1f} MB, "
          f"database {(source / 'tagsight.sqlite3').stat().st_size / 1e6:.1f} MB)", flush=True)

    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "MEDIA_ROOT", "STORAGE_BACKEND")}
    for name, folder, command in (("backup", source, "backup"), ("restore", target, "restore")):
        started = time.monotonic()
        done = subprocess.run([sys.executable, "manage.py", command, str(archive)], cwd=ROOT, capture_output=True,
                              text=True, env={**env, "TAGSIGHT_DATA_DIR": str(folder)}, check=False)
        seconds = time.monotonic() - started
        if done.returncode:
            sys.exit(f"{name} failed: {done.stderr}")
        print(f"{name}: {seconds:.1f} s wall ({done.stdout.strip()})", flush=True)
    print(f"archive: {archive.stat().st_size / 1e6:.1f} MB for {args.images} images; restored media "
          f"{folder_bytes(target / 'media') / 1e6:.1f} MB")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
