"""Small-object detection benchmark: dozens of 8-20 px objects per image on real photos, built at run time.

Construction (seeded, from the public sets in ../shared/datasets, nothing committed): the labelled boxes of the
fork / scissors (azure-quickstart) and raccoon photos are cut out and pasted, 20-50 per image, at seeded random
positions (no overlaps), sizes (sqrt(w*h) 8-20 px, the cut-out's aspect kept), and horizontal flips, onto
hymenoptera photos cropped to 512x384. 120 train + 40 test images, 3 tags; the test images use other backgrounds
and cut-outs from other photos than the train images (raccoon: the author's test split; fork/scissors: the last 6
of each). mAP@0.5 is the product's own (``training.ml.metrics``) on the test images, trained by
``train_detector`` exactly as the product trains (quick mode, its split field), with each variant's recipe.

    nice .venv/bin/python benchmarks/small_objects.py                       # every variant, one process each
    nice .venv/bin/python benchmarks/small_objects.py --variants before,auto
    nice .venv/bin/python benchmarks/small_objects.py --dataset raccoon --variants before,auto
    nice .venv/bin/python benchmarks/small_objects.py --dataset azure --variants before,auto

Variants: ``before`` is the recipe quick training used before the small-object work (P4-P6 at 320 px, plain
FCOS assignment); ``auto`` is what the product now chooses by itself (``detection.head.auto_recipe``: on this set
P3-P6 at 320 px, i.e. ``p3``; on raccoon and the quickstart ``before``); the others add one change at a time
(``p3@448``: Products on Shelves' input size; ``auto-fp32``: auto with a float32 head, where the CPU would train
its convolutions in bf16). Also prints the share of ground-truth boxes that get no positive
location in the un-augmented training view (what the head can never learn to find), whether training chose tiled
prediction (``training.ml.detection.tiles``: whole image + 2x2 tiles, cut and partial boxes dropped, merged by NMS;
measured on the validation images for stride-8 recipes), and whole-image against tiled prediction on the test
images, by a second model of the same recipe trained without them (the delivered model's last steps see every
image, so its own predictions on the test images would flatter it).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATASETS = ROOT.parent / "shared" / "datasets"

WIDTH, HEIGHT = 512, 384
TRAIN_IMAGES, TEST_IMAGES = 120, 40
PER_IMAGE = (20, 50)
SIDE = (8.0, 20.0)  # sqrt(w * h) of a pasted object, px in the 512x384 image

# name -> Recipe overrides (None: the product's own choice, recipe=None in train_detector).
VARIANTS: dict[str, dict[str, Any] | None] = {
    "before": {"strides": (16, 32, 64), "assignment": "fcos"},
    "assign": {"strides": (16, 32, 64), "assignment": "fcos+nearest"},
    "p3": {"strides": (8, 16, 32, 64), "assignment": "fcos"},
    "p3+assign": {"strides": (8, 16, 32, 64), "assignment": "fcos+nearest"},
    "p3@448": {"strides": (8, 16, 32, 64), "assignment": "fcos", "image_size": 448},
    "auto": None,
    "auto-fp32": {"bf16": False},  # auto's recipe with a float32 head where auto trains it in bf16 (Recipe.bf16)
}


def _cutouts() -> dict[str, list[tuple[Any, str]]]:
    """Every labelled box of fork/scissors/raccoon as a PIL cut-out (at most 96 px), tagged "train" or "test"."""
    from PIL import Image

    out: list[tuple[Any, str, str]] = []
    for folder in ("azure-quickstart/detection", "raccoon"):
        data = json.loads((DATASETS / folder / "manifest.json").read_text())
        seen: dict[str, int] = {}
        for rel, info in sorted(data["images"].items()):
            im = Image.open(DATASETS / folder / rel).convert("RGB")
            w, h = im.size
            for r in info.get("regions", []):
                tag = r["tag"]
                seen[tag] = seen.get(tag, 0) + 1
                split = info.get("split") or ("test" if seen[tag] > 14 else "train")  # fork/scissors: 14 + 6
                box = (round(r["left"] * w), round(r["top"] * h), round((r["left"] + r["width"]) * w),
                       round((r["top"] + r["height"]) * h))
                crop = im.crop(box)
                crop.thumbnail((96, 96), Image.Resampling.LANCZOS)
                out.append((crop, tag, split))
    by_split: dict[str, list[tuple[Any, str]]] = {"train": [], "test": []}
    for crop, tag, split in out:
        by_split[split].append((crop, tag))
    return by_split


def build(root: Path, seed: int = 0) -> Path:
    """Write the benchmark's images and manifest.json under ``root``; returns the manifest path."""
    from PIL import Image, ImageOps

    rng = random.Random(seed)
    cutouts = _cutouts()
    hym = json.loads((DATASETS / "hymenoptera" / "manifest.json").read_text())
    backgrounds = sorted(hym["images"])
    rng.shuffle(backgrounds)
    # Balance the tags: pick the tag first, then one of its cut-outs.
    pools = {s: {} for s in cutouts}  # type: dict[str, dict[str, list[Any]]]
    for split, items in cutouts.items():
        for crop, tag in items:
            pools[split].setdefault(tag, []).append(crop)
    images: dict[str, Any] = {}
    for i, rel in enumerate(backgrounds[: TRAIN_IMAGES + TEST_IMAGES]):
        split = "train" if i < TRAIN_IMAGES else "test"
        bg = ImageOps.fit(Image.open(DATASETS / "hymenoptera" / rel).convert("RGB"), (WIDTH, HEIGHT))
        placed: list[tuple[int, int, int, int]] = []
        regions = []
        for _ in range(rng.randint(*PER_IMAGE)):
            tag = rng.choice(sorted(pools[split]))
            crop = rng.choice(pools[split][tag])
            side = rng.uniform(*SIDE)
            aspect = crop.width / crop.height
            w = max(3, round(side * aspect**0.5))
            h = max(3, round(side / aspect**0.5))
            for _try in range(30):
                x, y = rng.randrange(0, WIDTH - w), rng.randrange(0, HEIGHT - h)
                if all(x + w + 2 <= a or x >= c + 2 or y + h + 2 <= b or y >= d + 2 for a, b, c, d in placed):
                    break
            else:
                continue
            obj = crop.resize((w, h), Image.Resampling.LANCZOS)
            if rng.random() < 0.5:
                obj = ImageOps.mirror(obj)
            bg.paste(obj, (x, y))
            placed.append((x, y, x + w, y + h))
            regions.append({"tag": tag, "left": x / WIDTH, "top": y / HEIGHT, "width": w / WIDTH,
                            "height": h / HEIGHT})
        name = f"{split}_{i:03d}.jpg"
        bg.save(root / name, quality=90)
        images[name] = {"width": WIDTH, "height": HEIGHT, "split": split, "regions": regions}
    manifest = {"name": "small-objects", "task": "detection", "tags": ["fork", "raccoon", "scissors"],
                "images": images}
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root / "manifest.json"


def unassigned_share(manifest: Any, recipe: Any) -> float:
    """Share of ground-truth boxes with no positive location in the un-augmented views."""
    import torch

    from training.ml.detection import data as ddata
    from training.ml.detection.model import assign_targets, locations

    points, strides, levels = locations(recipe.image_size, recipe.strides)
    missed = total = 0
    for target in ddata.validate_manifest_boxes(manifest):
        boxes = target.boxes * recipe.image_size
        labels, ltrb = assign_targets(points, strides, levels, boxes, target.labels, recipe.assignment)
        pos = labels >= 0
        # A box owns the positive locations whose target is that box.
        owned = torch.zeros(len(boxes), dtype=torch.bool)
        if pos.any():
            pts = points[pos]
            tb = torch.cat([pts - ltrb[pos, :2], pts + ltrb[pos, 2:]], 1)
            owned[(tb[:, None] - boxes[None]).abs().sum(2).argmin(1)] = True
        missed += int((~owned).sum())
        total += len(boxes)
    return missed / max(total, 1)


def run(dataset: str, variant: str, seed: int) -> dict[str, Any]:
    from training.ml.config import TrainConfig
    from training.ml.detection import DetectionPredictor, train_detector
    from training.ml.detection import data as ddata
    from training.ml.detection.head import auto_recipe
    from training.ml.manifest import Manifest

    with tempfile.TemporaryDirectory(prefix="bench-smallobj-") as tmp:
        if dataset == "small":
            path = build(Path(tmp), seed)
        else:
            path = DATASETS / ("raccoon" if dataset == "raccoon" else "azure-quickstart/detection") / "manifest.json"
        manifest = Manifest.from_json(path)
        config = TrainConfig(seed=seed)
        overrides = VARIANTS[variant]
        effective = auto_recipe(ddata.validate_manifest_boxes(manifest), config.image_size)
        recipe = None if overrides is None else replace(effective, **overrides)
        effective = recipe or effective
        missed = unassigned_share(manifest, effective)
        t0, c0 = time.perf_counter(), time.process_time()
        result = train_detector(manifest, config, Path(tmp) / "work", recipe=recipe)
        train_s, train_cpu = time.perf_counter() - t0, time.process_time() - c0
        m = result.metrics
        predictor = DetectionPredictor.load(result.artifact_path)
        val = set(m["split"]["val_ids"])
        images = [manifest.resolve(s) for s in manifest.samples if s.id in val][:20]
        predictor.predict(images[0])
        t = time.perf_counter()
        counts = [len(predictor.predict(im)) for im in images]
        predict_ms = 1000 * (time.perf_counter() - t) / len(images)
        # Whole against tiled prediction needs a model that never saw the images it is scored on: the delivered
        # model's last steps train on every image, the validation images too (Recipe.final_fraction), so the same
        # recipe trains again on the other images only, and that model predicts the validation images both ways.
        rest = replace(manifest, samples=tuple(s for s in manifest.samples if s.id not in val))
        held_out = DetectionPredictor.load(train_detector(rest, config, Path(tmp) / "rest", recipe=effective)
                                           .artifact_path)
        whole_map, _ = _held_out_map(held_out, manifest, val, m["tags"], tiled=False)
        tiled_map, tiled_ms = _held_out_map(held_out, manifest, val, m["tags"], tiled=True)
    row = {
        "dataset": dataset, "variant": variant, "image_size": effective.image_size,
        "strides": list(effective.strides), "assignment": effective.assignment,
        "map50": m["overall"]["ap"], "train_s": train_s, "train_cpu_s": train_cpu, "predict_ms": predict_ms,
        "unassigned": missed, "val_images": len(val), "max_boxes": max(counts),
        "held_out_map50": whole_map, "tiled_map50": tiled_map, "tiled_predict_ms": tiled_ms,
        "training_tiles": m.get("tiles"),
    }
    chosen = m.get("tiles")
    decided = ("not measured" if not chosen else
               f"{'tiles' if chosen['used'] else 'whole'} (validation {chosen['tiled_map']:.3f} tiled, "
               f"{chosen['whole_map']:.3f} whole)")
    print(
        f"{dataset:8s} {variant:14s} {effective.image_size}px P{'3' if effective.strides[0] == 8 else '4'}-P6 "
        f"{effective.assignment:13s} mAP@0.5 {row['map50']:.3f}  train {train_s:6.1f}s (CPU {train_cpu:.0f}s)  "
        f"predict {predict_ms:6.1f} ms/image  unassigned boxes {missed:.1%}  training chose: {decided}  "
        f"| held-out model: whole {whole_map:.3f}, tiled 2x2+whole {tiled_map:.3f} {tiled_ms:6.1f} ms/image  "
        f"(val {len(val)} images, up to {max(counts)} boxes/image; load {os.getloadavg()[0]:.1f})",
        flush=True,
    )
    return row


def _held_out_map(predictor: Any, manifest: Any, val: set[str], tags: list[str], *, tiled: bool
                  ) -> tuple[float, float]:
    """mAP@0.5 (training.ml.metrics) and ms/image of ``predictor`` on the validation images: whole images or
    tiled (``training.ml.detection.tiles``, as a model that tiles answers), whatever its training chose."""
    from training.ml.detection import tiles
    from training.ml.detection.evaluate import detections_to_dicts, validation_entry
    from training.ml.metrics import compute_metrics

    rows = []
    t = time.perf_counter()
    samples = [s for s in manifest.samples if s.id in val]
    for sample in samples:
        path = manifest.resolve(sample)
        predictor.tiles = tiles.settings() if tiled else None
        found = predictor.detect(path)
        rows.append(validation_entry(sample, detections_to_dicts(*found, tags)))
    ms = 1000 * (time.perf_counter() - t) / len(samples)
    return float(compute_metrics("detection", tags, rows)["overall"]["ap"]), ms


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", choices=["small", "raccoon", "azure"], default="small")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # child process: one variant
    parser.add_argument("--json", type=Path, default=None, help="append one JSON line per run here")
    args = parser.parse_args()
    names = args.variants.split(",")
    if args.one:
        row = run(args.dataset, names[0], args.seed)
        if args.json:
            with args.json.open("a") as f:
                f.write(json.dumps(row) + "\n")
        print(f"  peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB", flush=True)
        return
    for name in names:  # one process per variant: peak RSS and caches per run
        extra = ["--json", str(args.json)] if args.json else []
        subprocess.run([sys.executable, __file__, "--one", "--dataset", args.dataset, "--variants", name,
                        "--seed", str(args.seed), *extra], check=True)


if __name__ == "__main__":
    main()
