"""Classification figures: quick (and optionally advanced) training on hymenoptera and azure-quickstart.

    .venv/bin/python benchmarks/ml_classification.py [--backbones lite0 lite1 lite2] [--seeds 0 1 2]
        [--advanced --budget 300] [--threads 2] [--image-size 288 --pooling gem]
    .venv/bin/python benchmarks/ml_classification.py --domains [--seeds 0 1 2]
    .venv/bin/python benchmarks/ml_classification.py --views-curve
    .venv/bin/python benchmarks/ml_classification.py --frozen-features
    .venv/bin/python benchmarks/ml_classification.py --advanced-sets [--seeds 0 1 2] [--budget 300]
    .venv/bin/python benchmarks/ml_classification.py --general --seeds $(seq 0 69)

For every backbone: hymenoptera accuracy on 3 seeded stratified 70/30 splits, train() wall time
with a cold embedding cache (trunk ONNX already exported, its one-time export timed separately)
and with a warm cache (the same seed again); azure-quickstart k-fold accuracy and the test image's top tag; peak RSS.

``--domains``: every classification domain whose recipe differs from General's (projects.domains: image_size,
framings) against General, in one run: accuracy on hymenoptera (3 seeded 70/30 splits), azure-quickstart
(k-fold) and harder variants built here from them (see ``variant``), the first seed's cold train() time on
hymenoptera and the Predictor's latency on 20 hymenoptera photos.

``--views-curve``: what the augmented training views (embeddings.VIEWS) add as the training set grows, the figure
behind ``embeddings.views_for``. For hymenoptera and its "wide" and "small" variants, every image is embedded once
(all views, Lite0); then for n training images per tag (10 seeded random draws each) the head is fitted on the
"full" view only and on all views, and scored on every other image.

``--frozen-features``: the frozen-feature path's options on the hard sets (issue #15's "small, hard data"): for
hymenoptera, "wide" and "small", accuracy of the linear head (one view) on 10 seeded stratified 70/30 splits with
Lite0 at 224 px (the frozen-Lite0 baseline), GeM pooling at 224 and at 288 px (General), Lite0 at 256 / 288 / 320
px, Lite2 at 260 px, and concatenations (Lite0 224 + 320,
Lite0 + Lite2, centre crop + whole frame) and the whole frame alone at 224 and 288 px, with each embedding's cold
time for the 200 images.

``--general``: General's recipe before (Lite0 at 224 px, average pooling, the head's L2 penalty fixed at
``linear_head.WEIGHT_DECAY``: logistic regression on frozen Lite0 features), at 288 px with GeM pooling of the
checkpoint's ReLU6 map and the penalty chosen by ``classification.choose_weight_decay``, and now (the same with GeM
of the head's unclipped ReLU map, "gem-unclipped") through quick ``train()`` on hymenoptera and its "wide" and
"small" variants, one 70/30 hold-out split per seed (the product's ``plan_split``): mean validation accuracy (and
log-loss) per set and over the sets, the paired difference with its standard error, and the penalties chosen.

``--advanced-sets``: quick against advanced training (issue #15's "advanced training that earns its name") on
hymenoptera and its "wide" and "small" variants. For each seed, 30 % of the set is put aside as test images; both
modes train on the rest (their own 70/30 validation split inside it) and are scored on the test images, which
neither saw. Prints both modes' validation and test accuracy, wall time and what advanced delivered.
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
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from training.ml import Manifest, Predictor, TrainConfig, train  # noqa: E402
from training.ml.backbones import BACKBONES  # noqa: E402
from training.ml.embeddings import trunk_path  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets"


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def variant(src: Manifest, kind: str, root: Path) -> Manifest:
    """A harder copy of a classification set, seeded: "wide" puts each photo in the left or right half of a 2:1
    frame whose other half is the same photo mirrored and blurred (the subject off-centre, as in a wide scene);
    "small" pastes a 0.35x copy at a random spot of a grey frame of the photo's size (a small subject)."""
    import json
    import random

    from PIL import Image, ImageFilter

    root = root / f"{src.name}-{kind}"
    root.mkdir(parents=True)
    rng = random.Random(0)
    images = {}
    for i, sample in enumerate(src.samples):
        im = Image.open(src.resolve(sample)).convert("RGB")
        w, h = im.size
        if kind == "wide":
            out = Image.new("RGB", (2 * w, h))
            left = rng.random() < 0.5
            out.paste(im, (0 if left else w, 0))
            out.paste(im.transpose(Image.Transpose.FLIP_LEFT_RIGHT).filter(ImageFilter.GaussianBlur(8)),
                      (w if left else 0, 0))
        else:
            out = Image.new("RGB", (w, h), (128, 128, 128))
            small = im.resize((max(1, int(w * 0.35)), max(1, int(h * 0.35))), Image.Resampling.LANCZOS)
            out.paste(small, (rng.randrange(w - small.size[0] + 1), rng.randrange(h - small.size[1] + 1)))
        out.save(root / f"{i:04d}.jpg", quality=92)
        images[f"{i:04d}.jpg"] = {"tags": list(sample.tags)}
    manifest = {"name": f"{src.name}-{kind}", "task": "classification", "tags": list(src.tags), "images": images}
    (root / "manifest.json").write_text(json.dumps(manifest))
    return Manifest.from_json(root / "manifest.json")


def compare_domains(seeds: list[int], threads: int | None) -> None:
    """The --domains table (see the module docstring)."""
    from projects.domains import CLASSIFICATION, DOMAINS

    base = Path(tempfile.mkdtemp(prefix="bench-domains-"))
    hymenoptera = Manifest.from_json(DATA / "hymenoptera" / "manifest.json")
    quickstart = Manifest.from_json(DATA / "azure-quickstart" / "classification" / "manifest.json")
    sets = {"hymenoptera": hymenoptera, "quickstart": quickstart,
            "hym-wide": variant(hymenoptera, "wide", base), "hym-small": variant(hymenoptera, "small", base),
            "qs-wide": variant(quickstart, "wide", base)}
    general = next(d for d in DOMAINS if d.type == CLASSIFICATION and d.name == "General")
    same = [d.name for d in DOMAINS if d.type == CLASSIFICATION and d.backbone == general.backbone
            and (d.image_size, d.framings, d.pooling) == (general.image_size, general.framings, general.pooling)
            and d is not general]
    print(f"cpus={os.cpu_count()} loadavg={os.getloadavg()[0]:.1f}; same recipe as General: {', '.join(same)}")
    print("domain (recipe)                      | " + " | ".join(f"{n:>11s}" for n in sets)
          + " | cold train s")
    predictors: dict[str, Predictor] = {}
    latency_images = [hymenoptera.resolve(s) for s in hymenoptera.samples[::10]]
    for domain in DOMAINS:
        if domain.type != CLASSIFICATION or domain.compact or domain.name in same or domain.backbone != "lite0":
            continue
        cache = base / f"cache-{domain.name}"
        trunk_path(domain.backbone, domain.image_size or BACKBONES[domain.backbone].image_size, cache,
                   pooling=domain.pooling)  # not timed
        scores, cold, artifact = [], 0.0, ""
        for name, manifest in sets.items():
            accs: list[float] = []
            for seed in seeds if len(manifest.samples) >= 50 else seeds[:1]:
                cfg = TrainConfig(backbone=domain.backbone, image_size=domain.image_size, framings=domain.framings,
                                  pooling=domain.pooling, seed=seed, kfold=1 if len(manifest.samples) >= 50 else 0,
                                  cache_dir=str(cache), threads=threads)
                t = time.perf_counter()
                r = train(manifest, cfg, base / f"run-{domain.name}-{name}-{seed}")
                if name == "hymenoptera" and not accs:
                    cold, artifact = time.perf_counter() - t, r.artifact_path
                kf = r.metrics.get("kfold")
                accs.append(kf["accuracy_mean"] if kf else r.metrics["overall"]["accuracy"])
            scores.append(float(np.mean(accs)))
        label = f"{domain.name} ({r.metrics['image_size']} px, {'+'.join(domain.framings)}, {domain.pooling})"
        print(f"{label:36s} | " + " | ".join(f"{a:11.3f}" for a in scores) + f" | {cold:12.1f}", flush=True)
        predictors[label] = Predictor.load(artifact, threads=threads)
    # Latency last, round-robin over the models, so a busy moment of a shared machine hits them all alike.
    cpu: dict[str, list[float]] = {label: [] for label in predictors}
    wall: dict[str, list[float]] = {label: [] for label in predictors}
    for image in [latency_images[0], *latency_images]:
        for label, predictor in predictors.items():
            t, c = time.perf_counter(), time.process_time()
            predictor.predict(image)
            wall[label].append(time.perf_counter() - t)
            cpu[label].append(time.process_time() - c)
    for label in predictors:  # the first (warm-up) call is left out
        print(f"{label:36s} predict: median {1000 * np.median(wall[label][1:]):.1f} ms wall, "
              f"{1000 * np.median(cpu[label][1:]):.1f} ms CPU per image ({len(latency_images)} hymenoptera photos)")
    shutil.rmtree(base, ignore_errors=True)


def hard_sets(base: Path) -> dict[str, Manifest]:
    """hymenoptera and its "wide" and "small" variants (built under ``base``)."""
    hymenoptera = Manifest.from_json(DATA / "hymenoptera" / "manifest.json")
    return {"hymenoptera": hymenoptera, "hym-wide": variant(hymenoptera, "wide", base),
            "hym-small": variant(hymenoptera, "small", base)}


def embedded(manifest: Manifest, embedder: Any, views: tuple[str, ...]) -> np.ndarray:
    """(N, V, F) embeddings of every image of ``manifest`` (``embeddings.embed_images``, its cache)."""
    from training.ml.embeddings import embed_images
    from training.ml.images import file_sha256

    paths = [manifest.resolve(s) for s in manifest.samples]
    sources = [lambda p=p: embedder.load(p) for p in paths]
    return embed_images(sources, [file_sha256(p) for p in paths], embedder=embedder, views=views)[0]


def views_curve(threads: int | None) -> None:
    """The --views-curve table (see the module docstring)."""
    from training.ml.embeddings import VIEWS, Embedder
    from training.ml.linear_head import fit_head, predicted_embeddings, targets, train_views

    base = Path(tempfile.mkdtemp(prefix="bench-views-"))
    sets = hard_sets(base)
    embedder = Embedder("lite0", None, base / "cache", threads=threads)
    sizes = [5, 10, 20, 40, 70]
    print(f"cpus={os.cpu_count()} loadavg={os.getloadavg()[0]:.1f}; accuracy on the images not drawn, mean of 10 "
          f"draws: 1 view ('full') -> {len(VIEWS)} views ({'+'.join(VIEWS)})")
    print("set          | " + " | ".join(f"{n:>3d}/tag {'':>9s}" for n in sizes))
    for name, manifest in sets.items():
        emb = embedded(manifest, embedder, VIEWS)
        y = targets(manifest, manifest.samples)
        labels = y.argmax(1)
        cells = []
        for n in sizes:
            one, many = [], []
            for draw in range(10):
                rng = np.random.default_rng(draw)
                train_idx = sorted(int(i) for k in range(y.shape[1])
                                   for i in rng.permutation(np.flatnonzero(labels == k))[:n])
                test_idx = [i for i in range(len(labels)) if i not in set(train_idx)]
                truth = labels[test_idx]
                for views, out in ((1, one), (len(VIEWS), many)):
                    head = fit_head(*train_views(emb[:, :views], y, train_idx), multilabel=False)
                    probs = head.predict_proba(predicted_embeddings(emb)[test_idx])
                    out.append(float((probs.argmax(1) == truth).mean()))
            cells.append(f"{np.mean(one):.3f} -> {np.mean(many):.3f}")
        print(f"{name:12s} | " + " | ".join(cells), flush=True)
    shutil.rmtree(base, ignore_errors=True)


def frozen_features(threads: int | None) -> None:
    """The --frozen-features table (see the module docstring)."""
    from training.ml.embeddings import Embedder
    from training.ml.linear_head import fit_head, targets

    base = Path(tempfile.mkdtemp(prefix="bench-frozen-"))
    sets = hard_sets(base)
    embedders = {"l0@224": Embedder("lite0", None, base / "cache", threads=threads),
                 "l0@224 gem": Embedder("lite0", None, base / "cache", threads=threads, pooling="gem"),
                 "l0@288 gem": Embedder("lite0", 288, base / "cache", threads=threads, pooling="gem"),
                 "l0@256": Embedder("lite0", 256, base / "cache", threads=threads),
                 "l0@288": Embedder("lite0", 288, base / "cache", threads=threads),
                 "l0@320": Embedder("lite0", 320, base / "cache", threads=threads),
                 "l2@260": Embedder("lite2", None, base / "cache", threads=threads),
                 "l0@224 whole": Embedder("lite0", None, base / "cache", threads=threads, framing="whole"),
                 "l0@288 whole": Embedder("lite0", 288, base / "cache", threads=threads, framing="whole")}
    combos = {"Lite0 224 (frozen-Lite0 LR)": ["l0@224"], "Lite0 224, GeM": ["l0@224 gem"],
              "Lite0 288, GeM (General)": ["l0@288 gem"], "Lite0 256": ["l0@256"], "Lite0 288": ["l0@288"],
              "Lite0 320 (Retail)": ["l0@320"], "Lite2 260 (General [A1])": ["l2@260"],
              "Lite0 224 + 320": ["l0@224", "l0@320"], "Lite0 + Lite2": ["l0@224", "l2@260"],
              "centre + whole (Landmarks)": ["l0@224", "l0@224 whole"], "whole frame": ["l0@224 whole"],
              "whole frame, 288": ["l0@288 whole"]}
    table: dict[str, list[float]] = {c: [] for c in combos}
    seconds: dict[str, float] = dict.fromkeys(embedders, 0.0)
    for manifest in sets.values():
        feats = {}
        for key, embedder in embedders.items():
            t = time.perf_counter()
            feats[key] = embedded(manifest, embedder, ("full",))[:, 0]
            seconds[key] += time.perf_counter() - t
        y = targets(manifest, manifest.samples)
        labels = y.argmax(1)
        scores: dict[str, list[float]] = {c: [] for c in combos}
        for draw in range(10):
            rng = np.random.default_rng(draw)
            train_idx: list[int] = []
            for k in range(y.shape[1]):
                idx = rng.permutation(np.flatnonzero(labels == k))
                train_idx += [int(i) for i in idx[: round(len(idx) * 0.7)]]
            test_idx = [i for i in range(len(labels)) if i not in set(train_idx)]
            for combo, parts in combos.items():
                x = np.concatenate([feats[p] for p in parts], axis=1)
                head = fit_head(x[sorted(train_idx)], y[sorted(train_idx)], multilabel=False)
                scores[combo].append(float((head.predict_proba(x[test_idx]).argmax(1) == labels[test_idx]).mean()))
        for combo in combos:
            table[combo].append(float(np.mean(scores[combo])))
    print(f"cpus={os.cpu_count()} loadavg={os.getloadavg()[0]:.1f}; linear head on one view, 10 seeded 70/30 splits")
    print(f"{'features':28s} | " + " | ".join(f"{n:>11s}" for n in sets) + " |   mean | vs Lite0 224")
    general = float(np.mean(table["Lite0 224 (frozen-Lite0 LR)"]))
    for combo, accs in table.items():
        print(f"{combo:28s} | " + " | ".join(f"{a:11.3f}" for a in accs)
              + f" | {np.mean(accs):6.3f} | {100 * (np.mean(accs) - general):+.1f} pts")
    print("cold embedding of the 3 x 200 images: " + ", ".join(f"{k} {v:.0f} s" for k, v in seconds.items()))
    shutil.rmtree(base, ignore_errors=True)


def general_recipes(seeds: list[int], threads: int | None) -> None:
    """The --general table (see the module docstring)."""
    from collections import Counter

    from training.ml import classification
    from training.ml.linear_head import WEIGHT_DECAY
    from training.ml.recipe_search import scores_on

    base = Path(tempfile.mkdtemp(prefix="bench-general-"))
    sets = hard_sets(base)
    # (train() keywords, the penalties the head may take): "fixed" is the frozen-Lite0 LR head of before
    searched = classification.WEIGHT_DECAYS
    recipes = {"224 px, average, fixed penalty (before)": ({"image_size": None, "pooling": "avg"}, (WEIGHT_DECAY,)),
               "288 px, GeM, searched penalty": ({"image_size": 288, "pooling": "gem"}, searched),
               "288 px, GeM unclipped, searched penalty (General)": ({"image_size": 288, "pooling": "gem-unclipped"},
                                                                     searched)}
    print(f"cpus={os.cpu_count()} loadavg={os.getloadavg()[0]:.1f}; quick train(), {len(seeds)} hold-out seeds "
          f"({seeds[0]}..{seeds[-1]}), validation accuracy (log-loss); vs the first recipe, paired")
    acc: dict[tuple[str, str], np.ndarray] = {}
    for name, manifest in sets.items():
        cells = []
        for r, (recipe, (kw, penalties)) in enumerate(recipes.items()):
            classification.WEIGHT_DECAYS = penalties
            runs = [train(manifest, TrainConfig(seed=seed, kfold=1, cache_dir=str(base / "cache"), threads=threads,
                                                **kw), base / f"run-{name}-{r}-{seed}").metrics for seed in seeds]
            acc[name, recipe] = np.array([m["overall"]["accuracy"] for m in runs])
            log_loss = np.mean([scores_on(manifest, rows, [r["id"] for r in rows])["log_loss"]
                                for rows in (m["validation_predictions"] for m in runs)])
            diff = acc[name, recipe] - acc[name, next(iter(recipes))]
            chosen = Counter(m["weight_decay"] for m in runs)
            cells.append(f"{recipe}: {acc[name, recipe].mean():.3f}"
                         + f" ({log_loss:.3f})"
                         + (f" {100 * diff.mean():+.1f} pts (s.e. {100 * diff.std(ddof=1) / np.sqrt(len(diff)):.1f})"
                            if r else "")
                         + (f", penalties {dict(sorted(chosen.items()))}" if len(penalties) > 1 else ""))
        classification.WEIGHT_DECAYS = searched
        print(f"{name:12s} | " + " | ".join(cells), flush=True)
    means = {r: float(np.mean([acc[n, r].mean() for n in sets])) for r in recipes}
    first = next(iter(means.values()))
    print("over the sets: " + ", ".join(f"{r} {m:.4f} ({100 * (m - first):+.1f} pts)" for r, m in means.items()))
    shutil.rmtree(base, ignore_errors=True)


def advanced_sets(seeds: list[int], budget: float, threads: int | None) -> None:
    """The --advanced-sets table (see the module docstring)."""
    import dataclasses

    from training.ml.split import plan_split

    base = Path(tempfile.mkdtemp(prefix="bench-advanced-"))
    sets = hard_sets(base)
    print(f"cpus={os.cpu_count()} loadavg={os.getloadavg()[0]:.1f}; budget {budget:.0f} s; test = 30 % of each set "
          f"that neither mode trains or validates on")
    print(f"{'set':12s} {'seed':>4s} | {'quick val':>9s} {'test':>6s} {'s':>5s} | {'adv. val':>9s} {'test':>6s} "
          f"{'s':>5s} | advanced delivered")
    table: dict[str, dict[str, list[float]]] = {}
    for name, manifest in sets.items():
        cache = base / f"cache-{name}"  # shared by the seeds: the first seed's runs embed, the others reuse
        for seed in seeds:
            outer = plan_split(manifest, TrainConfig(seed=100 + seed, kfold=1, val_fraction=0.3))
            train_idx, test_idx = outer.folds[0]
            part = dataclasses.replace(manifest, samples=tuple(manifest.samples[i] for i in train_idx))
            test = [manifest.samples[i] for i in test_idx]
            row: list[str] = []
            for mode in ("quick", "advanced"):
                cfg = TrainConfig(seed=seed, kfold=1, cache_dir=str(cache), threads=threads, mode=mode,  # type: ignore[arg-type]
                                  budget_seconds=budget)
                t = time.perf_counter()
                r = train(part, cfg, base / f"run-{name}-{seed}-{mode}")
                took = time.perf_counter() - t
                predictor = Predictor.load(r.artifact_path, threads=threads)
                right = [predictor.predict(manifest.resolve(s))[0].tag in s.tags for s in test]
                acc = float(np.mean(right))
                scores = table.setdefault(name, {})
                scores.setdefault(f"{mode} val", []).append(r.metrics["overall"]["accuracy"])
                scores.setdefault(f"{mode} test", []).append(acc)
                scores.setdefault(f"{mode} s", []).append(took)
                row.append(f"{r.metrics['overall']['accuracy']:9.3f} {acc:6.3f} {took:5.0f}")
                if mode == "advanced":
                    chosen = next((x["recipe"] for x in (r.metrics.get("comparison") or {}).get("recipes", [])
                                   if x["chosen"]), "")
                    searched = any(n.startswith("Advanced training compared") and " delivers " in n for n in r.notes)
                    tuned = any(n.startswith("Fine-tuned model delivered") for n in r.notes)
                    row.append(f"{'recipe ' + chosen if searched else 'quick recipe'}"
                               f"{' + fine-tuned' if tuned else ''}")
            print(f"{name:12s} {seed:4d} | " + " | ".join(row), flush=True)
    print("mean over seeds:")
    for name, scores in table.items():
        print(f"{name:12s} quick val {np.mean(scores['quick val']):.3f} test {np.mean(scores['quick test']):.3f} "
              f"({np.mean(scores['quick s']):.0f} s) | advanced val {np.mean(scores['advanced val']):.3f} test "
              f"{np.mean(scores['advanced test']):.3f} ({np.mean(scores['advanced s']):.0f} s)")
    quick = np.mean([np.mean(s["quick test"]) for s in table.values()])
    advanced = np.mean([np.mean(s["advanced test"]) for s in table.values()])
    print(f"test accuracy over the sets: quick {quick:.3f}, advanced {advanced:.3f} "
          f"({100 * (advanced - quick):+.1f} pts)")
    shutil.rmtree(base, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backbones", nargs="+", default=["lite0"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--image-size", type=int, default=None, help="default mode: input size (backbone's own)")
    parser.add_argument("--pooling", default="avg",
                        help="default mode: the embedding's pooling (avg, gem, gem-unclipped)")
    parser.add_argument("--advanced", action="store_true")
    parser.add_argument("--budget", type=float, default=300.0)
    parser.add_argument("--domains", action="store_true", help="compare the domains' recipes (see above)")
    parser.add_argument("--views-curve", action="store_true", help="augmented views vs training set size")
    parser.add_argument("--frozen-features", action="store_true", help="resolutions and backbones on hard sets")
    parser.add_argument("--advanced-sets", action="store_true", help="quick vs advanced on held-out test images")
    parser.add_argument("--general", action="store_true", help="General's recipe before and now, over --seeds")
    args = parser.parse_args()
    if args.general:
        general_recipes(args.seeds, args.threads)
        return
    if args.advanced_sets:
        advanced_sets(args.seeds, args.budget, args.threads)
        return
    if args.frozen_features:
        frozen_features(args.threads)
        return
    if args.views_curve:
        views_curve(args.threads)
        return
    if args.domains:
        compare_domains(args.seeds, args.threads)
        return
    hymenoptera = Manifest.from_json(DATA / "hymenoptera" / "manifest.json")
    quickstart = Manifest.from_json(DATA / "azure-quickstart" / "classification" / "manifest.json")
    test_image = DATA / "azure-quickstart" / "classification" / "Test" / "test_image.jpg"
    print(f"cpus={os.cpu_count()} loadavg={os.getloadavg()[0]:.1f}")
    for name in args.backbones:
        base = Path(tempfile.mkdtemp(prefix="bench-cls-"))
        t0 = time.perf_counter()
        trunk_path(name, args.image_size or BACKBONES[name].image_size, base / "trunk-cache", pooling=args.pooling)
        print(f"[{name}] one-time trunk ONNX export ({args.image_size or BACKBONES[name].image_size} px, "
              f"{args.pooling} pooling): {time.perf_counter() - t0:.1f} s")
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
                                  threads=args.threads, mode=mode, budget_seconds=args.budget,  # type: ignore[arg-type]
                                  image_size=args.image_size, pooling=args.pooling)
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
                              budget_seconds=args.budget, image_size=args.image_size,  # type: ignore[arg-type]
                              pooling=args.pooling)
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
