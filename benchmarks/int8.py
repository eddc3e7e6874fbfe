"""int8 vs fp32 models of the compact domains, classification and detection, on held-out images of every set we have.

    .venv/bin/python benchmarks/int8.py [--task all|classification|detection] [--threads 1,0] [--rounds 3]
                                        [--no-bias-correction]

Classification: hymenoptera (70/30), the Azure quickstart's Hemlock / Japanese Cherry (14 / 6) and its forks /
scissors (28 / 12), seeded stratified splits: trains the compact domain's classifier (EfficientNet-Lite0, 224 px) on
the training part, quantises it as training does (training.ml.quantize.int8_classifier, calibrated on the training
part, at the smallest input whose answers on the held-out part stay within the bar) and prints int8_report on the
held-out part: top-1 agreement with fp32, mAP of both, the fp32 / int8 latency measured back to back, and the int8
model's input size ("input") with every size tried ("candidates").

Detection: raccoon and the Azure quickstart's forks / scissors boxes, seeded 70/30 splits: trains the compact
detection domain's detector (EfficientNet-Lite0 FCOS at 320 px, quick) on the training part and exports it as a
compact domain's ONNX zip is built (training.ml.export_onnx with the training part as int8 calibration); prints the
zip's int8 section on the held-out part: box mAP@0.5 of both models, agreement of their most probable box, latency,
and the int8 model's input size ("input": the fp32 model's -> the int8 model's, the smallest tried whose boxes stayed
within the bar; training.ml.quantize.SMALLER_INPUTS).

Latency: each image's fastest of ``--rounds`` back-to-back passes (other jobs on a shared machine only ever add
time), for each ``--threads`` count (1 = one core; 0 = onnxruntime's default, one thread per physical core).
Prints whether the bar of issue #14 is met and whether the CPU has VNNI.

``--throughput S`` (classification) also measures images per second the way the server runs under load: one
single-thread session per core, every core busy, cycling over the held-out images for S seconds, fp32 and int8
alternated twice; prints both rates and the ratio of each pair.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

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


def throughput(model: Path, arrays: list[Any], seconds: float) -> float:
    """Images per second of ``model`` with one single-thread session per core, all of them busy (threads:
    onnxruntime releases the GIL while it runs), each cycling over ``arrays`` from its own starting image."""
    import threading

    from training.ml.runtime import cores, make_session

    sessions = [make_session(model, 1) for _ in range(cores())]
    for session in sessions:  # warm-up: first-run allocations are not the model's speed
        for array in arrays[:3]:
            session.run(None, {"image": array})
    counts, stop = [0] * len(sessions), time.perf_counter() + seconds

    def work(k: int) -> None:
        while time.perf_counter() < stop:
            sessions[k].run(None, {"image": arrays[(k + counts[k]) % len(arrays)]})
            counts[k] += 1

    workers = [threading.Thread(target=work, args=(k,)) for k in range(len(sessions))]
    start = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(counts) / (time.perf_counter() - start)


def classification(work: Path, threads: list[int], rounds: int, measure: float = 0.0) -> list[dict[str, Any]]:
    """The classification rows; ``measure``: seconds of each :func:`throughput` run (0: none)."""
    from training.ml.classification import train_classifier
    from training.ml.images import draft_factor, load_array
    from training.ml.quantize import int8_classifier, int8_report
    from training.ml.runtime import cores

    rows = []
    for name, items in _sets().items():
        train, held = _split(items, 0.3)
        tags = tuple(sorted({t for _, t in items}))
        samples = tuple(Sample(id=p.name, path=str(p), tags=(t,)) for p, t in train)
        manifest = Manifest(task="classification", tags=tags, samples=samples, name=name)
        config = TrainConfig(kfold=1, cache_dir=str(work / "cache"))
        artifact = Path(train_classifier(manifest, config, work / name.replace("/", "-")).artifact_path)
        draft = draft_factor(json.loads((artifact / "metadata.json").read_text()))
        start = time.perf_counter()
        int8 = work / f"{name.replace('/', '-')}-int8.onnx"
        truth = {p.stem: [t] for p, t in held}
        chosen = int8_classifier(artifact / "model.onnx", int8, calibration_images=[p for p, _ in train],
                                 images=[p for p, _ in held], tags=tags, image_size=224, draft=draft, truth=truth)
        seconds = time.perf_counter() - start
        for n in threads:
            report = int8_report(artifact / "model.onnx", int8, [p for p, _ in held], tags=tags, image_size=224,
                                 truth=truth, threads=n, rounds=rounds, draft=draft)
            rows.append({"set": name, "train": len(train), "held_out": len(held), "quantise_s": seconds,
                         "input": f"224->{chosen['image_size']}", "candidates": chosen["candidates"], **report})
        if measure:
            arrays = [load_array(p, image_size=224, draft=draft) for p, _ in held]
            rates = [(throughput(artifact / "model.onnx", arrays, measure), throughput(int8, arrays, measure))
                     for _ in range(2)]
            rows[-1]["throughput"] = {"workers": cores(), "seconds": measure, "fp32_per_s": [f for f, _ in rates],
                                      "int8_per_s": [i for _, i in rates], "ratio": [i / f for f, i in rates]}
    return rows


def detection(work: Path, threads: list[int], rounds: int) -> list[dict[str, Any]]:
    from training.ml.detection import train_detector
    from training.ml.export import export_onnx
    from training.ml.quantize import int8_report

    rows = []
    for name, rel in (("raccoon", "raccoon"), ("forks/scissors box", "azure-quickstart/detection")):
        manifest = Manifest.from_json(DATA / rel / "manifest.json")
        samples = sorted(manifest.samples, key=lambda s: s.id)
        random.Random(0).shuffle(samples)
        k = round(len(samples) * 0.3)
        held, train = samples[:k], samples[k:]
        folder = work / name.replace("/", "-").replace(" ", "-")
        result = train_detector(dataclasses.replace(manifest, samples=tuple(train)), TrainConfig(backbone="lite0"),
                                folder)
        images = [manifest.resolve(s) for s in held]
        truth = {manifest.resolve(s).stem: [{"tag": b.tag, "left": b.left, "top": b.top, "width": b.width,
                                             "height": b.height} for b in s.boxes] for s in held}
        start = time.perf_counter()
        report = export_onnx(result.artifact_path, folder / "export", validation_images=images, truth=truth,
                             int8_calibration=[manifest.resolve(s) for s in train])
        seconds = time.perf_counter() - start
        size = int(json.loads((folder / "export" / "metadata.json").read_text())["image_size"])
        for n in threads:
            same = n == report["int8"]["threads"] and rounds == 3 and report["int8"]["timed_images"] == len(images)
            int8 = report["int8"] if same else int8_report(
                folder / "export" / "model.onnx", folder / "export" / "model_int8.onnx", images,
                tags=manifest.tags, image_size=size, truth=truth, threads=n, rounds=rounds, task="detection")
            rows.append({"set": name, "train": len(train), "held_out": len(held), "export_s": seconds,
                         "input": f"{size}->{report['int8']['image_size']}", "candidates": report["int8"]["candidates"],
                         **int8})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--task", choices=["all", "classification", "detection"], default="all")
    parser.add_argument("--threads", default="1,0", help="comma-separated intra-op thread counts (0: default)")
    parser.add_argument("--rounds", type=int, default=3, help="timed passes over the held-out images")
    parser.add_argument("--throughput", type=float, default=0.0, metavar="S",
                        help="classification: also images/s, one single-thread session per core, S s per run")
    parser.add_argument("--no-bias-correction", action="store_true",
                        help="quantise without bias correction (the recipe before it)")
    args = parser.parse_args()
    threads = [int(n) for n in args.threads.split(",")]
    from training.ml import quantize

    quantize.BIAS_CORRECTION = not args.no_bias_correction
    work = Path(tempfile.mkdtemp(prefix="tagsight-bench-int8-"))
    rows = []
    try:
        if args.task in ("all", "classification"):
            rows += classification(work, threads, args.rounds, args.throughput)
        if args.task in ("all", "detection"):
            rows += detection(work, threads, args.rounds)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(rows, indent=1))
    print(f"\nCPU VNNI: {rows[0]['cpu_vnni']}; each image's fastest of {args.rounds} passes; bar: classification "
          f"top-1 agreement >= 0.99, mAP within 1 point, >= 1.8x fp32's speed (detection: box mAP@0.5 and speed)")
    print(f"{'task':<15}{'set':<20}{'held':>5}{'input':>9}{'thr':>4}{'agree':>7}{'mAP fp32':>9}{'mAP int8':>9}"
          f"{'fp32 ms':>8}{'int8 ms':>8}{'speed-up':>9}  meets bar")
    for r in rows:
        print(f"{r['task']:<15}{r['set']:<20}{r['held_out']:>5}{r.get('input', '224'):>9}{r['threads']:>4}"
              f"{r['top1_agreement']:>7.3f}"
              f"{r['fp32_map']:>9.4f}{r['int8_map']:>9.4f}{r['fp32_ms_per_image']:>8.1f}{r['int8_ms_per_image']:>8.1f}"
              f"{r['speedup']:>8.2f}x  {r['meets_bar']}")
    for r in rows:
        if "throughput" in r:
            t = r["throughput"]
            print(f"throughput, {r['set']}: {t['workers']} single-thread sessions busy, {t['seconds']:g} s a run: fp32 "
                  + " / ".join(f"{v:.1f}" for v in t["fp32_per_s"]) + " images/s, int8 "
                  + " / ".join(f"{v:.1f}" for v in t["int8_per_s"]) + " images/s: "
                  + " / ".join(f"{v:.2f}x" for v in t["ratio"]))


if __name__ == "__main__":
    main()
