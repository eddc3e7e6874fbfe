"""Pure helpers for the Performance tab: PR curves, error lists and SVG geometry (no Django, no I/O)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from training.ml.metrics import match_detections

Vp = Mapping[str, Any]  # one validation_predictions entry


def _box(b: Mapping[str, Any]) -> list[float]:
    return [float(b["left"]), float(b["top"]), float(b["width"]), float(b["height"])]


def _scored_flags(task: str, tag: str, vps: Sequence[Vp], iou_threshold: float) -> tuple[np.ndarray, np.ndarray, int]:
    """(scores, is_true_positive, number of positives) of every prediction of ``tag``."""
    scores: list[float] = []
    flags: list[bool] = []
    positives = 0
    for vp in vps:
        if task == "detection":
            gt = np.array([_box(b) for b in vp.get("boxes", ()) if b["tag"] == tag]).reshape(-1, 4)
            preds = [p for p in vp.get("predictions", ()) if p["tag"] == tag and p.get("box")]
            pb = np.array([_box(p["box"]) for p in preds]).reshape(-1, 4)
            ps = np.array([float(p["probability"]) for p in preds])
            positives += len(gt)
            scores.extend(ps.tolist())
            flags.extend(match_detections(gt, pb, ps, iou_threshold).tolist())
        else:
            truth = tag in vp.get("tags", ())
            positives += int(truth)
            prob = next((float(p["probability"]) for p in vp.get("predictions", ()) if p["tag"] == tag), 0.0)
            scores.append(prob)
            flags.append(truth)
    return np.asarray(scores, dtype=float), np.asarray(flags, dtype=bool), positives


def pr_curve(
    task: str, tag: str, vps: Sequence[Vp], *, threshold: float, iou_threshold: float = 0.5
) -> dict[str, Any]:
    """Precision-recall points of one tag (descending score) and the operating point at ``threshold``."""
    scores, flags, positives = _scored_flags(task, tag, vps, iou_threshold)
    order = np.argsort(-scores, kind="mergesort")
    scores, flags = scores[order], flags[order]
    tp = np.cumsum(flags)
    fp = np.cumsum(~flags)
    precision = tp / np.maximum(tp + fp, 1)
    recall = tp / positives if positives else np.zeros_like(precision, dtype=float)
    points = [(0.0, 1.0)] + [(float(r), float(p)) for r, p in zip(recall, precision, strict=True)]
    above = int(np.sum(scores >= threshold))
    operating = points[above] if above else (0.0, 1.0)
    return {"tag": tag, "points": points, "operating": operating, "positives": positives}


def svg_polyline(points: Sequence[tuple[float, float]], *, width: float, height: float, pad: float = 4) -> str:
    """``points`` (x, y in 0..1) as an SVG polyline ``points`` attribute, y pointing up."""
    w, h = width - 2 * pad, height - 2 * pad
    return " ".join(f"{pad + x * w:.1f},{pad + (1 - y) * h:.1f}" for x, y in points)


def svg_point(point: tuple[float, float], *, width: float, height: float, pad: float = 4) -> tuple[float, float]:
    x, y = point
    return round(pad + x * (width - 2 * pad), 1), round(pad + (1 - y) * (height - 2 * pad), 1)


def classification_errors(vps: Sequence[Vp], *, threshold: float, multilabel: bool) -> list[dict[str, Any]]:
    """Validation images the model got wrong at ``threshold``: missed true tags and extra predicted tags.

    Multiclass uses the top prediction (as the confusion matrix does); multilabel every tag over the threshold.
    """
    out = []
    for vp in vps:
        truth = set(vp.get("tags", ()))
        preds = sorted(vp.get("predictions", ()), key=lambda p: -float(p["probability"]))
        if multilabel:
            predicted = {p["tag"] for p in preds if float(p["probability"]) >= threshold}
        else:
            predicted = {preds[0]["tag"]} if preds else set()
        missed, extra = sorted(truth - predicted), sorted(predicted - truth)
        if missed or extra:
            out.append({"id": str(vp["id"]), "true": sorted(truth), "missed": missed, "extra": extra,
                        "top": [(p["tag"], float(p["probability"])) for p in preds[:3]]})
    return out


def detection_errors(vps: Sequence[Vp], *, threshold: float, iou_threshold: float) -> list[dict[str, Any]]:
    """Images with false positives (unmatched predicted boxes) or false negatives (missed true boxes)."""
    out = []
    for vp in vps:
        true_boxes = list(vp.get("boxes", ()))
        preds = [p for p in vp.get("predictions", ()) if p.get("box") and float(p["probability"]) >= threshold]
        drawn_true, drawn_pred = [], []
        fps = fns = 0
        for tag in sorted({b["tag"] for b in true_boxes} | {p["tag"] for p in preds}):
            gt = [b for b in true_boxes if b["tag"] == tag]
            pt = [p for p in preds if p["tag"] == tag]
            g = np.array([_box(b) for b in gt]).reshape(-1, 4)
            pb = np.array([_box(p["box"]) for p in pt]).reshape(-1, 4)
            ps = np.array([float(p["probability"]) for p in pt])
            is_tp = match_detections(g, pb, ps, iou_threshold)
            matched_true = _matched_true(g, pb[is_tp], iou_threshold)
            for b, hit in zip(gt, matched_true, strict=True):
                drawn_true.append({**b, "hit": bool(hit)})
                fns += int(not hit)
            for p, hit in zip(pt, is_tp, strict=True):
                drawn_pred.append({**p["box"], "tag": tag, "probability": float(p["probability"]), "hit": bool(hit)})
                fps += int(not hit)
        if fps or fns:
            out.append({"id": str(vp["id"]), "true_boxes": drawn_true, "pred_boxes": drawn_pred, "fp": fps, "fn": fns})
    return out


def _matched_true(gt: np.ndarray, tp_boxes: np.ndarray, iou_threshold: float) -> list[bool]:
    """Which true boxes were found (matched by some true-positive prediction)."""
    if len(gt) == 0:
        return []
    if len(tp_boxes) == 0:
        return [False] * len(gt)
    flags = match_detections(tp_boxes, gt, np.ones(len(gt)), iou_threshold)
    return [bool(f) for f in flags]
