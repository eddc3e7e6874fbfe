"""Command line: ``python -m training.ml train|evaluate|predict|export`` (thin, like timm's scripts)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

from training.ml import Manifest, MLError, Predictor, TrainConfig, evaluate, export_onnx, train
from training.ml.predict import prediction_json


def _summary(metrics: dict[str, Any]) -> dict[str, Any]:
    keys = ("task", "overall", "per_tag", "split", "kfold", "backbone", "image_size", "mode", "mode_delivered",
            "train_seconds", "schedule", "notes")
    out = {k: metrics[k] for k in keys if k in metrics}
    if "split" in out:
        out["split"] = {k: v for k, v in out["split"].items() if k in ("method", "seed", "k")}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.ml", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train on a manifest.json; writes OUT/model and OUT/metrics.json")
    p.add_argument("manifest")
    p.add_argument("--out", required=True)
    p.add_argument("--backbone", default="lite0", choices=["lite0", "lite1", "lite2"])
    p.add_argument("--mode", default="quick", choices=["quick", "advanced"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--budget", type=float, default=600.0, help="advanced mode time budget in seconds")
    p.add_argument("--kfold", type=int, default=0, help="0 auto, 1 hold-out, k>=2 folds")
    p.add_argument("--image-size", type=int, default=None)
    p.add_argument("--cache-dir", default=None)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--replay", default=None, metavar="METRICS_JSON",
                   help="repeat the fine-tuning epochs/steps a previous run's metrics.json records (its schedule)")

    p = sub.add_parser("evaluate", help="metrics of an artifact on every image of a manifest")
    p.add_argument("artifact")
    p.add_argument("manifest")
    p.add_argument("--threshold", type=float, default=0.5)
    p.add_argument("--iou-threshold", type=float, default=0.5)

    p = sub.add_parser("predict", help="predict images with an artifact (JSON to stdout)")
    p.add_argument("artifact")
    p.add_argument("images", nargs="+")

    p = sub.add_parser("export", help="export an artifact to ONNX with a parity report")
    p.add_argument("artifact")
    p.add_argument("out")
    p.add_argument("--images", nargs="*", default=(), help="parity images (default: validation images)")

    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        if args.command == "train":
            config = TrainConfig(
                backbone=args.backbone, mode=args.mode, seed=args.seed, budget_seconds=args.budget,
                kfold=args.kfold, image_size=args.image_size, threads=args.threads, cache_dir=args.cache_dir,
                schedule=json.loads(Path(args.replay).read_text()).get("schedule") if args.replay else None,
            )
            start = time.perf_counter()
            result = train(Manifest.from_json(args.manifest), config, args.out)
            out = Path(args.out)
            (out / "metrics.json").write_text(json.dumps(result.metrics))
            summary = _summary(result.metrics)
            summary.update({"artifact": result.artifact_path, "wall_seconds": round(time.perf_counter() - start, 3)})
            print(json.dumps(summary, indent=1))
        elif args.command == "evaluate":
            metrics = evaluate(args.artifact, Manifest.from_json(args.manifest), threshold=args.threshold,
                               iou_threshold=args.iou_threshold)
            print(json.dumps({k: metrics[k] for k in ("task", "overall", "per_tag", "confusion")}, indent=1))
        elif args.command == "predict":
            predictor = Predictor.load(args.artifact)
            rows = [
                {"image": im, "predictions": [prediction_json(p) for p in predictor.predict(im)]} for im in args.images
            ]
            print(json.dumps(rows, indent=1))
        elif args.command == "export":
            report = export_onnx(args.artifact, args.out, validation_images=args.images)
            print(json.dumps({k: v for k, v in report.items() if k != "per_image"}, indent=1))
    except MLError as exc:
        print(json.dumps({"error": exc.code, "message": str(exc)}), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
