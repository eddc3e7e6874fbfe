"""int8 vs fp32 classifiers of the compact domain, on held-out images of every classification set we have.

    .venv/bin/python benchmarks/int8.py [--threads 1] [--rounds 3]

For hymenoptera (70/30), the Azure quickstart's Hemlock / Japanese Cherry (14 / 6) and its forks / scissors
(28 / 12), seeded stratified splits: trains the compact domain's classifier (EfficientNet-Lite0, 224 px) on the
training part, quantises it (training.ml.quantize, calibrated on the training part) and prints int8_report on the
held-out part: top-1 agreement with fp32, mAP of both, and the fp32 / int8 latency measured back to back
(``--rounds`` passes, single-threaded by default), whether the bar of issue #14 is met and whether the CPU has VNNI.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from training.ml import Manifest, Sample, TrainConfig  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets"


def _sets() -> dict[str, list[tuple[Path, str]]]:
    hymenoptera = json.loads((DATA / "hymenoptera" / "manifest.json").read_text())["images"]
    quickstart = json.loads((DATA / "azure-quickstart" / "classification" / "manifest.json").read_text())["images"]
    forks = DATA / "azure-quickstart" / "detection"
    return {
        "hymenoptera": [(DATA / "hymenoptera" / k, v["tags"][0]) for k, v in hymenoptera.items()],
        "quickstart": [(DATA / "azure-quickstart" / "classification" / k, v["tags"][0]) for k, v in quickstart.items()],
        "forks/scissors": [(p, t) for t in ("fork", "scissors") for p in sorted((forks / t).glob("*.jpg"))],
    }


def _split(items: list[tuple[Path, str]], held: float, seed: int = 0) -> tuple[list[tuple[Path, str]], ...]:
    by_tag: dict[str, list[Path]] = {}
    for path, tag in items:
        by_tag.setdefault(tag, []).append(path)
    rng, train, test = random.Random(seed), [], []
    for tag, paths in sorted(by_tag.items()):
        paths = sorted(paths)
        rng.shuffle(paths)
        k = round(len(paths) * held)
        test += [(p, tag) for p in paths[:k]]
        train += [(p, tag) for p in paths[k:]]
    return train, test


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3, help="timed passes over the held-out images")
    args = parser.parse_args()
    from training.ml.classification import train_classifier
    from training.ml.quantize import int8_report, quantize_classifier

    work = Path(tempfile.mkdtemp(prefix="tagsight-bench-int8-"))
    rows = []
    try:
        for name, items in _sets().items():
            train, held = _split(items, 0.3)
            tags = tuple(sorted({t for _, t in items}))
            samples = tuple(Sample(id=p.name, path=str(p), tags=(t,)) for p, t in train)
            manifest = Manifest(task="classification", tags=tags, samples=samples, name=name)
            config = TrainConfig(kfold=1, cache_dir=str(work / "cache"))
            artifact = Path(train_classifier(manifest, config, work / name.replace("/", "-")).artifact_path)
            start = time.perf_counter()
            quantize_classifier(artifact / "model.onnx", work / "int8.onnx", calibration_images=[p for p, _ in train],
                                image_size=224)
            seconds = time.perf_counter() - start
            truth = {p.stem: [t] for p, t in held}
            report = int8_report(artifact / "model.onnx", work / "int8.onnx", [p for p, _ in held], tags=tags,
                                 image_size=224, truth=truth, threads=args.threads, rounds=args.rounds)
            rows.append({"set": name, "train": len(train), "held_out": len(held), "quantise_s": seconds, **report})
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(rows, indent=1))
    print(f"\nCPU VNNI: {rows[0]['cpu_vnni']}; threads {args.threads}; bar: {rows[0]['bar']}")
    print(f"{'set':<16}{'held':>5}{'agree':>7}{'max|dp|':>8}{'mAP fp32':>9}{'mAP int8':>9}{'fp32 ms':>8}{'int8 ms':>8}"
          f"{'speed-up':>9}  meets bar")
    for r in rows:
        print(f"{r['set']:<16}{r['held_out']:>5}{r['top1_agreement']:>7.3f}{r['max_abs_probability_diff']:>8.3f}"
              f"{r['fp32_map']:>9.4f}{r['int8_map']:>9.4f}{r['fp32_ms_per_image']:>8.1f}{r['int8_ms_per_image']:>8.1f}"
              f"{r['speedup']:>8.2f}x  {r['meets_bar']}")


if __name__ == "__main__":
    main()
