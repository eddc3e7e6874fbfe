"""Rebuild tests/data from the full datasets in ../shared/datasets (or $TAGSIGHT_SHARED_DIR/datasets).

    .venv/bin/python -m tests.data.build

Copies the MIT-licensed sets the test suite needs (all of azure-quickstart, raccoon-1..4), each photo
downscaled to a longest side of 320 px and saved as JPEG quality 85 (keeping only the EXIF orientation tag),
and writes their manifests in the shared format with the new pixel sizes. Boxes are fractions, so they hold.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

from PIL import Image

from tests.factories import shared_dir

HERE = Path(__file__).resolve().parent
LONGEST_SIDE = 320
QUALITY = 85
RACCOONS = [f"images/raccoon-{i}.jpg" for i in (1, 2, 3, 4)]


def shrink(src: Path, dst: Path) -> tuple[int, int]:
    """Write a downscaled copy of ``src``; returns its stored (width, height)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(src) as im:
        orientation = im.getexif().get(0x0112)
        small = im.convert("RGB")
        small.thumbnail((LONGEST_SIDE, LONGEST_SIDE), Image.Resampling.LANCZOS)
        extra = {}
        if orientation is not None:
            exif = Image.Exif()
            exif[0x0112] = orientation
            extra["exif"] = exif.tobytes()
        small.save(dst, format="JPEG", quality=QUALITY, optimize=True, **extra)
        return small.size


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")


def build_quickstart(src: Path, out: Path) -> None:
    sizes = {}
    for photo in sorted(src.rglob("*.jpg")):
        rel = photo.relative_to(src).as_posix()
        sizes[rel] = shrink(photo, out / rel)
    for task in ("classification", "detection"):
        manifest = json.loads((src / task / "manifest.json").read_text())
        for rel, info in manifest["images"].items():
            if "width" in info:
                info["width"], info["height"] = sizes[f"{task}/{rel}"]
        write_json(out / task / "manifest.json", manifest)
    rich = json.loads((src / "manifest.json").read_text())
    rich["source"]["downscaled"] = f"longest side {LONGEST_SIDE} px, JPEG quality {QUALITY} (tests/data/build.py)"
    for task in ("classification", "detection"):
        for item in rich[task]["train"] + rich[task]["test"]:
            if "width" in item:
                item["width"], item["height"] = sizes[item["file"]]
    write_json(out / "manifest.json", rich)


def build_raccoon(src: Path, out: Path) -> None:
    manifest = json.loads((src / "manifest.json").read_text())
    images = {}
    for rel in RACCOONS:
        info = dict(manifest["images"][rel])
        info["width"], info["height"] = shrink(src / rel, out / rel)
        images[rel] = info
    manifest["images"] = images
    write_json(out / "manifest.json", manifest)


def main() -> int:
    datasets = shared_dir() / "datasets"
    if not datasets.is_dir():
        print(f"no datasets at {datasets} (set TAGSIGHT_SHARED_DIR)", file=sys.stderr)
        return 2
    for name, build in (("azure-quickstart", build_quickstart), ("raccoon", build_raccoon)):
        shutil.rmtree(HERE / name, ignore_errors=True)
        build(datasets / name, HERE / name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
