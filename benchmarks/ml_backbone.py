"""Backbone throughput: eager torch vs the onnxruntime path used for training and prediction.

    .venv/bin/python benchmarks/ml_backbone.py [--backbones lite0 lite1 lite2] [--threads 2]

Prints images/s of embedding extraction (batch 32) for eager torch (channels_last) and
onnxruntime, their max |difference|, the Predictor's per-image latency (decoded 500x375 photo ->
probabilities, pre-processing inside the graph), and peak RSS.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from training.ml.backbones import BACKBONES, create_backbone  # noqa: E402
from training.ml.embeddings import Embedder  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "hymenoptera"


def rate(fn, n_images: int, repeats: int) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return n_images * repeats / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backbones", nargs="+", default=list(BACKBONES))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cache = Path(tempfile.mkdtemp(prefix="bench-cache-"))
    print(f"threads={args.threads} cpus={os.cpu_count()} loadavg={os.getloadavg()[0]:.1f}")
    print(f"{'backbone':8} {'size':>4} {'eager img/s':>11} {'ort img/s':>9} {'ort b1 ms':>9} {'max|d|':>8} "
          f"{'predict ms':>10} {'cpu ms':>6} {'export s':>8}")
    from training.ml import Manifest, Predictor, Sample, TrainConfig, train

    for name in args.backbones:
        spec = BACKBONES[name]
        s = spec.image_size
        x = torch.rand(args.batch, 3, s, s) * 2 - 1
        model = create_backbone(name).to(memory_format=torch.channels_last)
        xc = x.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            eager = rate(lambda model=model, xc=xc: model.forward_pooled(xc), args.batch, 1)
            ref = model.forward_pooled(xc).numpy()
        t0 = time.perf_counter()
        emb = Embedder(name, None, cache, threads=args.threads)
        export_s = time.perf_counter() - t0
        xn = x.numpy()
        ort_rate = rate(lambda emb=emb, xn=xn: emb.embed_pixels(xn), args.batch, 3)
        one = xn[:1]
        b1 = 1000.0 / rate(lambda emb=emb, one=one: emb.embed_pixels(one), 1, 30)
        diff = float(np.abs(emb.embed_pixels(xn) - ref).max())
        # Predictor latency on a real 500x375 photo (decoded once; graph does crop/resize/normalise).
        samples = []
        for tag in ("ants", "bees"):
            for p in sorted((DATA / tag).iterdir())[:3]:
                samples.append(Sample(id=p.name, path=str(p), tags=(tag,)))
        m = Manifest(task="classification", tags=("ants", "bees"), samples=tuple(samples))
        art = train(m, TrainConfig(backbone=name, cache_dir=str(cache), threads=args.threads),
                    tempfile.mkdtemp(prefix="bench-run-")).artifact_path
        predictor = Predictor.load(art, threads=args.threads)
        from training.ml.images import load_array

        image = load_array(samples[0].path, image_size=s)
        run = predictor._session.run
        c = time.process_time()
        predict_ms = 1000.0 / rate(lambda run=run, image=image: run(["probabilities"], {"image": image}), 1, 30)
        predict_cpu = (time.process_time() - c) / 31 * 1000
        print(f"{name:8} {s:4d} {eager:11.1f} {ort_rate:9.1f} {b1:9.2f} {diff:8.1e} "
              f"{predict_ms:10.2f} {predict_cpu:6.2f} {export_s:8.1f}")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {rss:.0f} MiB; loadavg at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
