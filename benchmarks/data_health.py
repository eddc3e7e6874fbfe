"""Data Health on faults we inject: flipped labels and near-duplicates in hymenoptera and raccoon, and the timing
of the near-duplicate pass on 20,000 embeddings.

    .venv/bin/python benchmarks/data_health.py [--seed 0] [--threads 2] [--timing-size 20000]
    .venv/bin/python benchmarks/data_health.py --flip-seeds 20   # flipped labels only, over 20 fault draws

Faults (fixed seed): 5 % of the labels flipped (hymenoptera: image tags; detection: boxes retagged to another
tag), 20 near-duplicates added (a copy of a random image resized to 50-90 %, re-encoded as JPEG at quality 60-90,
with up to 10 % cropped off). The detection set is raccoon (1 tag) + the Azure quickstart's fork / scissors, so a
retagged box always has a real other tag to carry. Goals: flipped labels recall >= 0.8 among the top
2 x (number flipped) suspects; near-duplicates recall >= 0.95 with <= 5 % false pairs; the near-duplicate pass
on 20,000 images <= 30 s. The 20,000 embeddings are synthetic, 1280-d like lite0's: drawn from a Gaussian with
the mean and covariance of the real embeddings of the shipped images (all views), so the search sees the real
spread of similarities (see ``synthetic``); the timing prints wall and CPU seconds and the machine's load.

Raccoon holds near-duplicates of its own (same photo re-encoded, shifted, or with a caption added): the pairs in
``RACCOON_OWN_DUPLICATES`` were checked by eye and count as true pairs, like the injected ones; any other found
pair counts as false. Uses /work/shared/datasets (skips with a message when absent).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from health.checks import duplicates, features, mislabels  # noqa: E402
from training.ml.embeddings import Embedder, default_cache_dir  # noqa: E402
from training.ml.images import file_sha256, load_image  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets"
RACCOON_OWN_DUPLICATES = [(11, 116), (52, 74), (50, 52), (65, 98), (83, 120), (51, 85), (21, 45), (186, 199)]
FLIP_FRACTION = 0.05
NEAR_DUPLICATES = 20


def near_duplicate(path: Path, rng: np.random.Generator, out: Path) -> Path:
    """A resized (50-90 %), cropped (<= 10 %), re-encoded (JPEG 60-90) copy of an image."""
    image = load_image(path)
    w, h = image.size
    crop = rng.uniform(0, 0.10)
    cw, ch = crop * rng.uniform(0, 1), crop * rng.uniform(0, 1)  # this much of each side is cut, split at random
    left, top = int(w * cw * rng.uniform()), int(h * ch * rng.uniform())
    image = image.crop((left, top, left + int(w * (1 - cw)), top + int(h * (1 - ch))))
    scale = rng.uniform(0.5, 0.9)
    image = image.resize((max(8, int(image.width * scale)), max(8, int(image.height * scale))),
                         Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=int(rng.integers(60, 91)))
    out.write_bytes(buf.getvalue())
    return out


def load_set(name: str) -> tuple[list[Path], list[dict]]:
    manifest = json.loads((DATA / name / "manifest.json").read_text())
    items = sorted(manifest["images"].items())
    return [DATA / name / rel for rel, _ in items], [info for _, info in items]


def inject_duplicates(paths: list[Path], rng: np.random.Generator, tmp: Path) -> tuple[list[Path], set]:
    sources = rng.choice(len(paths), NEAR_DUPLICATES, replace=False)
    out = list(paths)
    truth = set()
    for k, src in enumerate(sources):
        out.append(near_duplicate(paths[src], rng, tmp / f"dup{k}.jpg"))
        truth.add((int(src), len(out) - 1))
    return out, truth


def duplicate_figures(emb: np.ndarray, hashes: np.ndarray, truth: set, known: set | None = None) -> dict:
    """Recall of the injected pairs; a found pair is false unless both images are copies of one picture."""
    found = {(a, b) for a, b, _ in duplicates.near_duplicate_pairs(emb[:, 0], hashes)}
    group = {i: g[0] for g in duplicates.clusters(len(emb), [*truth, *(known or set())]) for i in g}
    false = {(a, b) for a, b in found if a not in group or group[a] != group.get(b)}
    return {"injected": len(truth), "found_pairs": len(found), "recall": len(found & truth) / len(truth),
            "false_pairs": len(false), "false_rate": len(false) / max(1, len(found))}


def flip_figures(emb: np.ndarray, labels: np.ndarray, num_classes: int, rng: np.random.Generator) -> dict:
    n_flip = int(round(FLIP_FRACTION * len(labels)))
    flipped = rng.choice(len(labels), n_flip, replace=False)
    noisy = labels.copy()
    for i in flipped:
        noisy[i] = rng.choice([c for c in range(num_classes) if c != labels[i]])
    start = time.perf_counter()
    probs = mislabels.out_of_fold_probabilities(emb, noisy, num_classes)
    suspects = mislabels.label_suspects(noisy, probs)
    secs = time.perf_counter() - start
    top = {s.index for s in suspects[: 2 * n_flip]}
    true = set(flipped.tolist())
    return {"items": len(labels), "flipped": n_flip, "suspects": len(suspects),
            "recall_top_2x": len(top & true) / n_flip,
            "recall_suspects": len({s.index for s in suspects} & true) / n_flip,
            "precision_suspects": len({s.index for s in suspects} & true) / max(1, len(suspects)),
            "seconds": round(secs, 2)}


def flip_seeds(sets: dict[str, tuple[np.ndarray, np.ndarray, int]], seeds: Sequence[int]) -> None:
    """Flipped-label figures over many fault draws (the embeddings computed once): per set, the mean and range of
    each figure. Seed s draws the flips with ``default_rng(1000 + s)``."""
    for name, (emb, labels, num_classes) in sets.items():
        runs = [flip_figures(emb, labels, num_classes, np.random.default_rng(1000 + s)) for s in seeds]
        line = "  ".join(f"{key}={np.mean([r[key] for r in runs]):.3f} [{min(r[key] for r in runs):.3f}-"
                         f"{max(r[key] for r in runs):.3f}]"
                         for key in ("recall_top_2x", "recall_suspects", "precision_suspects", "suspects", "seconds"))
        print(f"{name} flips over {len(seeds)} draws ({len(labels)} items, {runs[0]['flipped']} flipped): {line}")


def synthetic(real: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` embeddings from a Gaussian with the real embeddings' mean and covariance."""
    base = real.reshape(-1, real.shape[-1]).astype(np.float64)
    mean = base.mean(0)
    variances, axes = np.linalg.eigh(np.cov(base, rowvar=False))
    z = rng.standard_normal((n, len(variances)))
    return (mean + (z * np.sqrt(np.clip(variances, 0, None))) @ axes.T).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--timing-size", type=int, default=20000)
    parser.add_argument("--flip-seeds", type=int, default=0,
                        help="only the flipped labels, over this many fault draws (mean and range of each figure)")
    args = parser.parse_args()
    if not (DATA / "hymenoptera" / "manifest.json").exists() or not (DATA / "raccoon" / "manifest.json").exists():
        print(f"SKIP: the datasets are not at {DATA} (hymenoptera and raccoon are needed)")
        return
    rng = np.random.default_rng(args.seed)
    cache = default_cache_dir()
    embedder = Embedder("lite0", None, cache, threads=args.threads)
    results: dict = {}
    with tempfile.TemporaryDirectory(prefix="datahealth-") as tmp_name:
        tmp = Path(tmp_name)

        # Classification: hymenoptera
        paths, infos = load_set("hymenoptera")
        tags = sorted({t for info in infos for t in info["tags"]})
        labels = np.asarray([tags.index(info["tags"][0]) for info in infos])
        all_paths, truth = inject_duplicates(paths, rng, tmp)
        labels = np.concatenate([labels, labels[[a for a, _ in sorted(truth, key=lambda p: p[1])]]])
        start = time.perf_counter()
        shas = [file_sha256(p) for p in all_paths]
        emb = features.image_embeddings(all_paths, shas, embedder=embedder)
        hashes = features.image_hashes(all_paths)
        print(f"hymenoptera: {len(all_paths)} images embedded + hashed in {time.perf_counter() - start:.1f} s")
        results["hymenoptera_duplicates"] = duplicate_figures(emb, hashes, truth)
        if args.flip_seeds:
            flip_sets = {"hymenoptera": (emb, labels, len(tags))}
        else:
            results["hymenoptera_flips"] = flip_figures(emb, labels, len(tags), rng)
        real = [emb]

        # Detection: raccoon + quickstart fork/scissors, boxes retagged
        paths_r, infos_r = load_set("raccoon")
        paths_q, infos_q = load_set("azure-quickstart/detection")
        paths_d, infos_d = paths_r + paths_q, infos_r + infos_q
        dtags = sorted({r["tag"] for info in infos_d for r in info.get("regions", [])})
        items, blabels = [], []
        for path, info in zip(paths_d, infos_d, strict=True):
            sha = file_sha256(path)
            for r in info.get("regions", []):
                items.append((path, sha, (r["left"], r["top"], r["width"], r["height"])))
                blabels.append(dtags.index(r["tag"]))
        start = time.perf_counter()
        bemb = features.box_embeddings(items, embedder=embedder)
        print(f"detection: {len(items)} boxes of {len(paths_d)} images embedded in {time.perf_counter() - start:.1f} s")
        if args.flip_seeds:
            flip_sets["detection boxes"] = (bemb, np.asarray(blabels), len(dtags))
            flip_seeds(flip_sets, range(args.flip_seeds))
            return
        results["detection_box_flips"] = flip_figures(bemb, np.asarray(blabels), len(dtags), rng)
        all_r, truth_r = inject_duplicates(paths_r, rng, tmp)
        emb_r = features.image_embeddings(all_r, [file_sha256(p) for p in all_r], embedder=embedder)
        index = {p.name: k for k, p in enumerate(all_r)}
        known = {tuple(sorted((index[f"raccoon-{a}.jpg"], index[f"raccoon-{b}.jpg"])))
                 for a, b in RACCOON_OWN_DUPLICATES}
        results["raccoon_duplicates"] = duplicate_figures(emb_r, features.image_hashes(all_r), truth_r, known)
        real.append(emb_r)

    # Timing: the near-duplicate pass on synthetic embeddings of the real distribution
    big = synthetic(np.concatenate(real), args.timing_size, rng)
    big_hashes = rng.integers(0, 2**63, size=args.timing_size, dtype=np.int64).astype(np.uint64)
    start, cpu = time.perf_counter(), time.process_time()
    pairs = duplicates.near_duplicate_pairs(big, big_hashes)
    results["timing"] = {"images": args.timing_size, "dims": int(big.shape[1]), "pairs": len(pairs),
                         "seconds": round(time.perf_counter() - start, 2),
                         "cpu_seconds": round(time.process_time() - cpu, 2),
                         "load_average": round(os.getloadavg()[0], 1), "cores": os.cpu_count()}

    for name, figures in results.items():
        print(f"{name:24s} " + "  ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}"
                                          for k, v in figures.items()))
    goals = [
        ("hymenoptera flipped recall@2x >= 0.8", results["hymenoptera_flips"]["recall_top_2x"] >= 0.8),
        ("detection flipped recall@2x >= 0.8", results["detection_box_flips"]["recall_top_2x"] >= 0.8),
        ("hymenoptera near-dup recall >= 0.95", results["hymenoptera_duplicates"]["recall"] >= 0.95),
        ("hymenoptera false pairs <= 5 %", results["hymenoptera_duplicates"]["false_rate"] <= 0.05),
        ("raccoon near-dup recall >= 0.95", results["raccoon_duplicates"]["recall"] >= 0.95),
        ("raccoon false pairs <= 5 %", results["raccoon_duplicates"]["false_rate"] <= 0.05),
        (f"{args.timing_size} images near-dup pass <= 30 s", results["timing"]["seconds"] <= 30),
    ]
    for text, ok in goals:
        print(f"{'MET ' if ok else 'MISS'} {text}")


if __name__ == "__main__":
    main()
