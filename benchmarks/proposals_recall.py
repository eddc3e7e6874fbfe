"""Recall of the generic region proposals (health/smartlabel_proposals.py) against the raccoon dataset's boxes.

Usage: .venv/bin/python benchmarks/proposals_recall.py [N_IMAGES]   (needs ../shared/datasets/raccoon)
Prints, per k, the share of labelled boxes that one of the first k proposals overlaps at IoU >= 0.5.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402

from health.smartlabel_proposals import iou, propose  # noqa: E402

DATASET = ROOT.parent / "shared" / "datasets" / "raccoon"


def main() -> None:
    manifest = json.loads((DATASET / "manifest.json").read_text())
    names = sorted(manifest["images"])[: int(sys.argv[1]) if len(sys.argv) > 1 else None]
    hits = dict.fromkeys((1, 5, 8, 10, 20), 0)
    total, seconds = 0, 0.0
    for name in names:
        started = time.perf_counter()
        boxes = propose(Image.open(DATASET / name))
        seconds += time.perf_counter() - started
        for r in manifest["images"][name]["regions"]:
            total += 1
            truth = (r["left"], r["top"], r["width"], r["height"])
            ious = [iou(truth, (b.left, b.top, b.width, b.height)) for b in boxes]
            for k in hits:
                hits[k] += max(ious[:k], default=0.0) >= 0.5
    print(f"{len(names)} images, {total} boxes, {seconds / len(names) * 1000:.0f} ms per image")
    for k, n in hits.items():
        print(f"recall@{k} (IoU >= 0.5): {n / total:.3f}")


if __name__ == "__main__":
    main()
