"""Per-tag precision/recall/AP and confusion from raw validation predictions (pure numpy, fast).

The input is the ``validation_predictions`` list stored in a result's metrics::

    [{"id": str, "tags": [true tags], "boxes": [{"tag", "left", "top", "width", "height"}],
      "predictions": [{"tag": str, "probability": float, "box": {...} | None}]}]

so the UI can recompute everything at any probability / IoU threshold without retraining.

Classification: a tag is predicted when its probability >= ``threshold`` (Azure's per-tag rule);
AP is the area under the precision-recall curve of that tag's scores over all validation images
(identical to ``sklearn.metrics.average_precision_score``). Detection: predictions are matched
greedily by score to unmatched true boxes of the same tag with IoU >= ``iou_threshold``; AP uses
all-point interpolation (VOC 2010+); ``interpolation="coco101"`` gives pycocotools' 101-point value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np

Interpolation = Literal["all_point", "coco101"]


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den > 0 else 0.0


def average_precision(
    scores: Sequence[float] | np.ndarray,
    is_tp: Sequence[bool] | np.ndarray,
    num_positives: int,
    *,
    interpolation: Interpolation | Literal["step"] = "step",
) -> float:
    """Area under the precision-recall curve of ranked predictions.

    Args:
        scores: one score per prediction.
        is_tp: whether each prediction is a true positive.
        num_positives: number of ground-truth positives (may exceed ``sum(is_tp)`` for detection).
        interpolation: "step" = sum over distinct thresholds of ΔR·P (sklearn's definition, ties
            grouped); "all_point" = VOC all-point interpolated precision envelope; "coco101" =
            pycocotools' 101 recall points.

    Returns:
        AP in [0, 1]; 0.0 when there are no positives.
    """
    if num_positives <= 0:
        return 0.0
    s = np.asarray(scores, dtype=np.float64)
    t = np.asarray(is_tp, dtype=np.float64)
    if s.size == 0:
        return 0.0
    order = np.argsort(-s, kind="mergesort")
    s, t = s[order], t[order]
    tp = np.cumsum(t)
    fp = np.cumsum(1.0 - t)
    if interpolation == "step":
        # Keep the last index of each run of equal scores (ties form one threshold).
        last = np.r_[np.nonzero(np.diff(s))[0], s.size - 1]
        tp, fp = tp[last], fp[last]
        recall = tp / num_positives
        precision = tp / np.maximum(tp + fp, 1e-12)
        prev = np.r_[0.0, recall[:-1]]
        return float(np.sum((recall - prev) * precision))
    recall = tp / num_positives
    precision = tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
    envelope = np.maximum.accumulate(precision[::-1])[::-1]
    if interpolation == "coco101":
        points = np.linspace(0.0, 1.0, 101)
        idx = np.searchsorted(recall, points, side="left")
        vals = np.array([envelope[i] if i < envelope.size else 0.0 for i in idx])
        return float(vals.mean())
    mrec = np.r_[0.0, recall]
    mpre = np.r_[envelope[0] if envelope.size else 0.0, envelope]
    return float(np.sum((mrec[1:] - mrec[:-1]) * mpre[1:]))


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix between (N, 4) and (M, 4) boxes given as left, top, width, height."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    ax2, ay2 = a[:, 0] + a[:, 2], a[:, 1] + a[:, 3]
    bx2, by2 = b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    iw = np.clip(np.minimum(ax2[:, None], bx2[None]) - np.maximum(a[:, 0:1], b[None, :, 0]), 0, None)
    ih = np.clip(np.minimum(ay2[:, None], by2[None]) - np.maximum(a[:, 1:2], b[None, :, 1]), 0, None)
    inter = iw * ih
    union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def _box_array(box: Mapping[str, float]) -> list[float]:
    return [float(box["left"]), float(box["top"]), float(box["width"]), float(box["height"])]


def is_multilabel(validation_predictions: Sequence[Mapping[str, Any]]) -> bool:
    """Guess whether classification predictions are multilabel (several true tags or sigmoid scores)."""
    for vp in validation_predictions:
        if len(vp.get("tags", ())) > 1:
            return True
        preds = vp.get("predictions", ())
        if preds and abs(sum(float(p["probability"]) for p in preds) - 1.0) > 1e-3:
            return True
    return False


def _classification(
    tags: Sequence[str], vps: Sequence[Mapping[str, Any]], threshold: float, multilabel: bool
) -> dict[str, Any]:
    index = {t: i for i, t in enumerate(tags)}
    n, k = len(vps), len(tags)
    probs = np.zeros((n, k), dtype=np.float64)
    truth = np.zeros((n, k), dtype=bool)
    ids = [str(vp["id"]) for vp in vps]
    for r, vp in enumerate(vps):
        for p in vp.get("predictions", ()):
            if p["tag"] in index:
                probs[r, index[p["tag"]]] = float(p["probability"])
        for t in vp.get("tags", ()):
            if t in index:
                truth[r, index[t]] = True
    predicted = probs >= threshold
    per_tag = []
    tp_all = fp_all = fn_all = 0
    aps = []
    cells: dict[str, list[str]] = {}
    for j, tag in enumerate(tags):
        tp = int(np.sum(predicted[:, j] & truth[:, j]))
        fp = int(np.sum(predicted[:, j] & ~truth[:, j]))
        fn = int(np.sum(~predicted[:, j] & truth[:, j]))
        tp_all, fp_all, fn_all = tp_all + tp, fp_all + fp, fn_all + fn
        count = int(truth[:, j].sum())
        ap = average_precision(probs[:, j], truth[:, j], count)
        if count:
            aps.append(ap)
        per_tag.append(
            {"tag": tag, "precision": _ratio(tp, tp + fp), "recall": _ratio(tp, tp + fn), "ap": ap, "image_count": count}
        )
        if multilabel:
            for name, mask in (
                ("tp", predicted[:, j] & truth[:, j]),
                ("fp", predicted[:, j] & ~truth[:, j]),
                ("fn", ~predicted[:, j] & truth[:, j]),
            ):
                cells[f"{tag}|{name}"] = [ids[i] for i in np.nonzero(mask)[0]]
    if multilabel:
        exact = np.all(predicted == truth, axis=1)
        accuracy = float(exact.mean()) if n else 0.0
        matrix = [[len(cells[f"{t}|{c}"]) for c in ("tp", "fp", "fn")] for t in tags]
        confusion = {"labels": list(tags), "columns": ["tp", "fp", "fn"], "matrix": matrix, "cells": cells}
    else:
        # Multiclass confusion uses the arg-max tag (threshold-free), rows = true, columns = predicted.
        matrix_np = np.zeros((k, k), dtype=np.int64)
        correct = 0
        for r in range(n):
            true_idx = np.nonzero(truth[r])[0]
            if true_idx.size == 0:
                continue
            p = int(np.argmax(probs[r]))
            t = int(true_idx[0])
            matrix_np[t, p] += 1
            correct += int(p == t)
            cells.setdefault(f"{tags[t]}|{tags[p]}", []).append(ids[r])
        accuracy = _ratio(correct, int(truth.any(axis=1).sum()))
        confusion = {"labels": list(tags), "matrix": matrix_np.tolist(), "cells": cells}
    overall = {
        "precision": _ratio(tp_all, tp_all + fp_all),
        "recall": _ratio(tp_all, tp_all + fn_all),
        "ap": float(np.mean(aps)) if aps else 0.0,
        "accuracy": accuracy,
    }
    return {"overall": overall, "per_tag": per_tag, "confusion": confusion}


def match_detections(
    true_boxes: np.ndarray, pred_boxes: np.ndarray, pred_scores: np.ndarray, iou_threshold: float
) -> np.ndarray:
    """Greedy matching of one image's predictions (one tag) to its true boxes.

    Predictions are visited by descending score; each is a true positive when its best-IoU
    still-unmatched true box has IoU >= ``iou_threshold`` (the COCO rule). Returns a bool array
    aligned with ``pred_boxes``.
    """
    is_tp = np.zeros(len(pred_boxes), dtype=bool)
    if len(true_boxes) == 0 or len(pred_boxes) == 0:
        return is_tp
    ious = box_iou(pred_boxes, true_boxes)
    used = np.zeros(len(true_boxes), dtype=bool)
    for i in np.argsort(-np.asarray(pred_scores), kind="mergesort"):
        cand = np.where(used, -1.0, ious[i])
        j = int(np.argmax(cand))
        if cand[j] >= iou_threshold - 1e-12 and cand[j] >= 0:
            used[j] = True
            is_tp[i] = True
    return is_tp


def _detection(
    tags: Sequence[str],
    vps: Sequence[Mapping[str, Any]],
    threshold: float,
    iou_threshold: float,
    interpolation: Interpolation,
) -> dict[str, Any]:
    per_tag = []
    aps = []
    tp_all = fp_all = fn_all = 0
    for tag in tags:
        scores: list[float] = []
        flags: list[bool] = []
        num_pos = image_count = tp = fp = 0
        for vp in vps:
            gt = np.array([_box_array(b) for b in vp.get("boxes", ()) if b["tag"] == tag]).reshape(-1, 4)
            preds = [p for p in vp.get("predictions", ()) if p["tag"] == tag and p.get("box")]
            pb = np.array([_box_array(p["box"]) for p in preds]).reshape(-1, 4)
            ps = np.array([float(p["probability"]) for p in preds])
            num_pos += len(gt)
            image_count += int(len(gt) > 0)
            flags_img = match_detections(gt, pb, ps, iou_threshold)
            scores.extend(ps.tolist())
            flags.extend(flags_img.tolist())
            keep = ps >= threshold
            tp_img = int(match_detections(gt, pb[keep], ps[keep], iou_threshold).sum())
            tp += tp_img
            fp += int(keep.sum()) - tp_img
        fn = num_pos - tp
        tp_all, fp_all, fn_all = tp_all + tp, fp_all + fp, fn_all + fn
        ap = average_precision(scores, flags, num_pos, interpolation=interpolation)
        if num_pos:
            aps.append(ap)
        per_tag.append(
            {
                "tag": tag,
                "precision": _ratio(tp, tp + fp),
                "recall": _ratio(tp, tp + fn),
                "ap": ap,
                "image_count": image_count,
                "box_count": num_pos,
            }
        )
    overall = {
        "precision": _ratio(tp_all, tp_all + fp_all),
        "recall": _ratio(tp_all, tp_all + fn_all),
        "ap": float(np.mean(aps)) if aps else 0.0,
    }
    return {"overall": overall, "per_tag": per_tag, "confusion": {}}


def compute_metrics(
    task: str,
    tags: Sequence[str],
    validation_predictions: Sequence[Mapping[str, Any]],
    *,
    threshold: float = 0.5,
    iou_threshold: float = 0.5,
    multilabel: bool | None = None,
    interpolation: Interpolation = "all_point",
) -> dict[str, Any]:
    """Per-tag and overall precision/recall/AP (+ confusion for classification).

    Args:
        task: "classification" or "detection".
        tags: every tag, in order.
        validation_predictions: raw per-image predictions (see module docstring).
        threshold: probability at which a prediction counts.
        iou_threshold: detection IoU needed for a match.
        multilabel: classification only; None guesses from the data (:func:`is_multilabel`).
        interpolation: detection AP interpolation ("all_point" or pycocotools' "coco101").

    Returns:
        ``{"overall": {precision, recall, ap[, accuracy]}, "per_tag": [...], "confusion": {...},
        "threshold": float, "iou_threshold": float}`` — JSON-serialisable. ``overall.ap`` is the
        mean AP over tags that have validation examples; precision/recall are micro-averaged.
    """
    if task == "detection":
        out = _detection(tags, validation_predictions, threshold, iou_threshold, interpolation)
    elif task == "classification":
        ml = is_multilabel(validation_predictions) if multilabel is None else multilabel
        out = _classification(tags, validation_predictions, threshold, ml)
    else:
        raise ValueError(f"unknown task {task!r}")
    out["threshold"] = float(threshold)
    out["iou_threshold"] = float(iou_threshold)
    return out
