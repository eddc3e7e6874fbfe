"""Detection benchmark: raccoon mAP@0.5 on its own 160/40 split, azure-quickstart fork test image,
Predictor latency and ONNX export parity. Prints wall time and peak RSS per run.

    .venv/bin/python benchmarks/ml_detection.py                 # both datasets, one subprocess each
    .venv/bin/python benchmarks/ml_detection.py raccoon [--mode advanced --budget 600] [--seed 0]
    .venv/bin/python benchmarks/ml_detection.py azure [--retrain]   # --retrain: then again, views from the cache
    .venv/bin/python benchmarks/ml_detection.py azure --image-size 448   # Products on Shelves' input size
    .venv/bin/python benchmarks/ml_detection.py azure-small [--image-size 448]   # see small_objects()
    .venv/bin/python benchmarks/ml_detection.py raccoon --held-out --seed 0 [--backbone lite1] [--image-size 384]
                                                [--mode advanced --budget 600]

``--held-out``: 30 % of the set (seeded by ``--seed``) is put aside; quick training runs on the rest (with its own
validation split) and the delivered model is scored on the images put aside, which neither its training nor its
validation saw: mAP@0.5 of the whole image as the API answers it, the same with a horizontal-flip test-time
augmentation (the mirrored image's head outputs averaged with the image's, location by location, before decoding),
and the model's time per image on one thread.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATASETS = ROOT.parent / "shared" / "datasets"


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def iou(a: dict[str, float], b: dict[str, float]) -> float:
    ix = max(0.0, min(a["left"] + a["width"], b["left"] + b["width"]) - max(a["left"], b["left"]))
    iy = max(0.0, min(a["top"] + a["height"], b["top"] + b["height"]) - max(a["top"], b["top"]))
    inter = ix * iy
    return inter / (a["width"] * a["height"] + b["width"] * b["height"] - inter)


def small_objects(src: Path, root: Path) -> Path:
    """A copy of a detection manifest with small objects: each photo shrunk to 0.2 of its size and pasted at a
    seeded random spot of a grey frame of its original size, boxes moved with it. Returns the new manifest."""
    import random

    from PIL import Image

    data = json.loads(src.read_text())
    rng = random.Random(0)
    images = {}
    for rel, info in data["images"].items():
        im = Image.open(src.parent / rel).convert("RGB")
        w, h = im.size
        sw, sh = max(1, int(w * 0.2)), max(1, int(h * 0.2))
        x, y = rng.randrange(w - sw + 1), rng.randrange(h - sh + 1)
        out = Image.new("RGB", (w, h), (128, 128, 128))
        out.paste(im.resize((sw, sh), Image.Resampling.LANCZOS), (x, y))
        name = rel.replace("/", "_")
        out.save(root / name, quality=92)
        regions = [{**r, "left": (x + r["left"] * sw) / w, "top": (y + r["top"] * sh) / h,
                    "width": r["width"] * sw / w, "height": r["height"] * sh / h} for r in info.get("regions", [])]
        images[name] = {**info, "regions": regions}
    (root / "manifest.json").write_text(json.dumps({**data, "images": images}))
    return root / "manifest.json"


def run(dataset: str, mode: str, seed: int, budget: float, image_size: int | None = None,
        threads: int | None = None, retrain: bool = False) -> None:
    from training.ml.config import TrainConfig
    from training.ml.detection import DetectionPredictor, export_detector_onnx, train_detector
    from training.ml.manifest import Manifest
    from training.ml.metrics import compute_metrics

    manifest_path = DATASETS / ("raccoon" if dataset == "raccoon" else "azure-quickstart/detection") / "manifest.json"
    if dataset == "azure-small":
        manifest_path = small_objects(manifest_path, Path(tempfile.mkdtemp(prefix="bench-small-")))
    manifest = Manifest.from_json(manifest_path)

    def train(config: Any, work: str, label: str) -> Any:
        stages: dict[str, float] = {}  # "<phase>: <step>" -> seconds since the start, when it first reported
        t0 = time.perf_counter()
        c0 = resource.getrusage(resource.RUSAGE_SELF)

        def progress(fraction: float, stage: str) -> None:
            phase, _, detail = stage.partition(":")
            step = detail.split(",")[0].strip()
            step = "" if any(c.isdigit() for c in step) else step  # "8 of 320 views": one line per phase
            key = phase.split(" (")[0] + (f": {step}" if step else "")
            stages.setdefault(key, time.perf_counter() - t0)

        result = train_detector(manifest, config, work, progress=progress)
        wall = time.perf_counter() - t0
        c1 = resource.getrusage(resource.RUSAGE_SELF)
        cpu = c1.ru_utime + c1.ru_stime - c0.ru_utime - c0.ru_stime
        print(f"  {label}train_detector wall {wall:.1f}s, CPU {cpu:.0f}s, peak RSS {peak_rss_mib():.0f} MiB")
        ends = [*list(stages.values())[1:], wall]
        for (key, start), end in zip(stages.items(), ends, strict=True):
            print(f"    {end - start:6.1f}s  {key}")
        return result

    with tempfile.TemporaryDirectory() as work:
        config = TrainConfig(seed=seed, mode=mode, budget_seconds=budget, image_size=image_size,  # type: ignore[arg-type]
                             threads=threads, cache_dir=str(Path(work) / "cache") if retrain else None)
        print(f"dataset={dataset} mode={mode} seed={seed}")
        result = train(config, str(Path(work) / "first"), "cold cache: " if retrain else "")
        if retrain:  # the same images again: the trunk export and every view come from the cache
            again = train(config, str(Path(work) / "again"), "retrain: ")
            same = {k: v for k, v in again.metrics.items() if k != "train_seconds"} == {
                k: v for k, v in result.metrics.items() if k != "train_seconds"}
            print(f"  retrain's metrics identical to the cold run's: {same}")
        m = result.metrics
        coco = compute_metrics("detection", m["tags"], m["validation_predictions"], interpolation="coco101")
        print(
            f"  image_size={m['image_size']} split={m['split']['method']} "
            f"train={len(m['split']['train_ids'])} val={len(m['split']['val_ids'])}"
        )
        print(
            f"  mAP@0.5 {m['overall']['ap']:.3f} (all-point; coco101 {coco['overall']['ap']:.3f}) "
            f"precision {m['overall']['precision']:.3f} recall {m['overall']['recall']:.3f} at p>=0.5"
        )
        for note in m["notes"]:
            print(f"  note: {note}")
        predictor = DetectionPredictor.load(result.artifact_path)
        if dataset == "azure":
            info = json.loads((DATASETS / "azure-quickstart" / "manifest.json").read_text())["detection"]["test"][0]
            preds = predictor.predict(DATASETS / "azure-quickstart" / info["file"])
            top = preds[0]
            exp = info["expected"][0]
            box = {"left": top.box.left, "top": top.box.top, "width": top.box.width, "height": top.box.height}
            print(
                f"  test image top prediction: {top.tag} p={top.probability:.3f} box="
                + ", ".join(f"{k}={v:.2f}" for k, v in box.items())
                + f"; expected {exp['tag']} IoU={iou(box, exp):.2f} -> "
                + ("OK" if top.tag == exp["tag"] and iou(box, exp) >= 0.5 else "WRONG")
            )
        images = [manifest.resolve(s) for s in manifest.samples if s.id in set(m["split"]["val_ids"])][:20]
        predictor.predict(images[0])
        t = time.perf_counter()
        for im in images:
            predictor.predict(im)
        print(f"  Predictor {1000 * (time.perf_counter() - t) / len(images):.1f} ms/image (decode + model + NMS)")
        report = export_detector_onnx(result.artifact_path, Path(work) / "export", validation_images=images)
        print(
            f"  ONNX export parity on {report['images']} images: max|dp| {report['max_abs_probability_diff']:.2e} "
            f"max|dbox| {report['max_abs_box_diff']:.2e} unmatched {report['unmatched_boxes']} ok={report['ok']}, "
            f"{report['onnx_ms_per_image']:.1f} ms/image in onnxruntime"
        )
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(
        f"  peak RSS {peak_rss_mib():.0f} MiB; process CPU time {usage.ru_utime + usage.ru_stime:.0f}s; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )


def held_out(dataset: str, seed: int, backbone: str, image_size: int | None, mode: str, budget: float) -> None:
    """The ``--held-out`` figures (see the module docstring)."""
    import dataclasses
    import random

    import numpy as np
    import torch

    from training.ml.config import TrainConfig
    from training.ml.detection import DetectionPredictor, train_detector
    from training.ml.detection.evaluate import detections_to_dicts, validation_entry
    from training.ml.detection.model import decode, locations
    from training.ml.images import load_array
    from training.ml.manifest import Manifest
    from training.ml.metrics import compute_metrics

    path = DATASETS / ("raccoon" if dataset == "raccoon" else "azure-quickstart/detection") / "manifest.json"
    manifest = Manifest.from_json(path)
    samples = sorted(manifest.samples, key=lambda s: s.id)
    random.Random(seed).shuffle(samples)
    k = round(len(samples) * 0.3)
    test, rest = samples[:k], samples[k:]
    with tempfile.TemporaryDirectory() as work:
        t0 = time.perf_counter()
        result = train_detector(dataclasses.replace(manifest, samples=tuple(rest)),
                                TrainConfig(seed=seed, backbone=backbone, image_size=image_size, mode=mode,  # type: ignore[arg-type]
                                            budget_seconds=budget), work)
        train_s = time.perf_counter() - t0
        predictor = DetectionPredictor.load(result.artifact_path, threads=1)
        size, strides = predictor.image_size, tuple(predictor.meta["head"]["strides"])
        points = locations(size, strides)[0]
        cells = list(zip(points.tolist(), locations(size, strides)[2].tolist(), strict=True))
        where = {(x, y, level): i for i, ((x, y), level) in enumerate(cells)}
        mirror = torch.tensor([where[(size - x, y, level)] for (x, y), level in cells])
        rows: dict[str, list[dict[str, Any]]] = {"whole": [], "flip": []}
        seconds = 0.0
        for sample in test:
            image = load_array(manifest.resolve(sample), image_size=size, draft=predictor.draft)
            start = time.thread_time()
            out = [torch.from_numpy(o) for o in predictor._session.run(None, {"image": image})]
            seconds += time.thread_time() - start
            flipped = [torch.from_numpy(o) for o in
                       predictor._session.run(None, {"image": np.ascontiguousarray(image[:, ::-1])})]
            # Back to the image's locations; a mirrored box's left and right distances swap.
            flipped = [flipped[0][:, mirror], flipped[1][:, mirror][..., [2, 1, 0, 3]], flipped[2][:, mirror]]
            for name, outputs in (("whole", out), ("flip", [(a + b) / 2 for a, b in zip(out, flipped, strict=True)])):
                found = decode((outputs[0], outputs[1], outputs[2]), points, size)
                rows[name].append(validation_entry(sample, detections_to_dicts(*found, predictor.tags)))
        maps = {name: compute_metrics("detection", predictor.tags, r)["overall"]["ap"] for name, r in rows.items()}
    delivered = result.metrics.get("mode_delivered", mode)
    print(f"{dataset} {backbone} {size}px {mode} (delivered: {delivered}) seed {seed}: train {len(rest)} images in "
          f"{train_s:.1f}s, validation "
          f"mAP@0.5 {result.metrics['overall']['ap']:.4f}; {len(test)} held-out images: mAP@0.5 {maps['whole']:.4f}, "
          f"with flip TTA {maps['flip']:.4f}; model {1000 * seconds / len(test):.1f} ms/image (one thread)",
          flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("dataset", nargs="?", choices=["raccoon", "azure", "azure-small", "all"], default="all")
    parser.add_argument("--mode", choices=["quick", "advanced"], default="quick")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--budget", type=float, default=600.0, help="advanced mode: TrainConfig.budget_seconds")
    parser.add_argument("--image-size", type=int, default=None, help="TrainConfig.image_size (default: 320)")
    parser.add_argument("--threads", type=int, default=None, help="TrainConfig.threads (default: one)")
    parser.add_argument("--retrain", action="store_true",
                        help="train twice with one fresh cache: cold, then a retraining reading its trunk and views")
    parser.add_argument("--held-out", action="store_true",
                        help="score the delivered model on 30%% of the set that training never saw (and with flip TTA)")
    parser.add_argument("--backbone", default="lite0", help="--held-out: TrainConfig.backbone")
    args = parser.parse_args()
    if args.held_out:
        if args.dataset not in ("raccoon", "azure"):
            parser.error("--held-out takes raccoon or azure")
        held_out(args.dataset, args.seed, args.backbone, args.image_size, args.mode, args.budget)
    elif args.dataset == "all":
        for name in ("raccoon", "azure"):  # one process each, so peak RSS is per run
            cmd = [sys.executable, __file__, name, "--mode", args.mode, "--seed", str(args.seed)]
            size = ["--image-size", str(args.image_size)] if args.image_size else []
            subprocess.run([*cmd, "--budget", str(args.budget), *size], check=True)
    else:
        run(args.dataset, args.mode, args.seed, args.budget, args.image_size, args.threads, args.retrain)


if __name__ == "__main__":
    main()
