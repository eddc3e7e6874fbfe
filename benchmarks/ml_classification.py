"""Classification figures: quick (and optionally advanced) training on hymenoptera and azure-quickstart.

    .venv/bin/python benchmarks/ml_classification.py [--backbones lite0 lite1 lite2] [--seeds 0 1 2]
        [--advanced --budget 300] [--threads 2]

For every backbone: hymenoptera accuracy on 3 seeded stratified 70/30 splits, train() wall time
with a cold embedding cache (trunk ONNX already exported, its one-time export timed separately)
and with a warm cache (the same seed again); azure-quickstart k-fold accuracy and the test image's top tag; peak RSS.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from training.ml import Manifest, Predictor, TrainConfig, train  # noqa: E402
from training.ml.backbones import BACKBONES  # noqa: E402
from training.ml.embeddings import trunk_path  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets"


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backbones", nargs="+", default=["lite0"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--advanced", action="store_true")
    parser.add_argument("--budget", type=float, default=300.0)
    args = parser.parse_args()
    hymenoptera = Manifest.from_json(DATA / "hymenoptera" / "manifest.json")
    quickstart = Manifest.from_json(DATA / "azure-quickstart" / "classification" / "manifest.json")
    test_image = DATA / "azure-quickstart" / "classification" / "Test" / "test_image.jpg"
    print(f"cpus={os.cpu_count()} loadavg={os.getloadavg()[0]:.1f}")
    for name in args.backbones:
        base = Path(tempfile.mkdtemp(prefix="bench-cls-"))
        t0 = time.perf_counter()
        trunk_path(name, BACKBONES[name].image_size, base / "trunk-cache")
        print(f"[{name}] one-time trunk ONNX export: {time.perf_counter() - t0:.1f} s")
        modes = ["quick"] + (["advanced"] if args.advanced else [])
        for mode in modes:
            accs, cold, warm, cold_cpu, warm_cpu = [], [], [], [], []
            cache = base / f"cache-{mode}"
            shutil.copytree(base / "trunk-cache", cache)
            for seed in args.seeds:
                # Cold = this seed's first run on a cache holding only the trunk; the embeddings are
                # then dropped again so every seed's cold run embeds all 200 images.
                shutil.rmtree(cache / "embeddings", ignore_errors=True)
                cfg = TrainConfig(backbone=name, seed=seed, kfold=1, val_fraction=0.3, cache_dir=str(cache),
                                  threads=args.threads, mode=mode, budget_seconds=args.budget)  # type: ignore[arg-type]
                t, c = time.perf_counter(), time.process_time()
                r = train(hymenoptera, cfg, base / f"run-{mode}-{seed}-cold")
                cold.append(time.perf_counter() - t)
                cold_cpu.append(time.process_time() - c)
                t, c = time.perf_counter(), time.process_time()
                r2 = train(hymenoptera, cfg, base / f"run-{mode}-{seed}-warm")
                warm.append(time.perf_counter() - t)
                warm_cpu.append(time.process_time() - c)
                accs.append(r.metrics["overall"]["accuracy"])
                assert r2.metrics["overall"] == r.metrics["overall"]
                print(f"[{name} {mode}] hymenoptera seed {seed}: accuracy {accs[-1]:.3f} "
                      f"cold {cold[-1]:.2f} s (cpu {cold_cpu[-1]:.2f} s) "
                      f"warm {warm[-1]:.2f} s (cpu {warm_cpu[-1]:.2f} s) "
                      f"delivered={r.metrics['mode_delivered']} "
                      f"notes={r.notes}")
            print(f"[{name} {mode}] hymenoptera accuracy {np.mean(accs):.3f} ± {np.std(accs):.3f}; "
                  f"cold {np.mean(cold):.2f} s (cpu {np.mean(cold_cpu):.2f} s), warm {np.mean(warm):.2f} s "
                  f"(cpu {np.mean(warm_cpu):.2f} s); peak RSS {rss_mib():.0f} MiB")
            cfg = TrainConfig(backbone=name, cache_dir=str(base / "trunk-cache"), threads=args.threads, mode=mode,
                              budget_seconds=args.budget)  # type: ignore[arg-type]
            t, c = time.perf_counter(), time.process_time()
            r = train(quickstart, cfg, base / f"qs-{mode}")
            took, took_cpu = time.perf_counter() - t, time.process_time() - c
            top = Predictor.load(r.artifact_path).predict(test_image)[0]
            kf = r.metrics.get("kfold", {})
            print(f"[{name} {mode}] azure-quickstart: {kf.get('k', '-')}-fold accuracy "
                  f"{kf.get('accuracy_mean', r.metrics['overall']['accuracy']):.3f} ± {kf.get('accuracy_std', 0):.3f} "
                  f"in {took:.2f} s (cpu {took_cpu:.2f} s, cold); "
                  f"test image -> {top.tag} {top.probability:.3f} (expected Hemlock)")
        shutil.rmtree(base, ignore_errors=True)
    print(f"peak RSS {rss_mib():.0f} MiB; loadavg at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
