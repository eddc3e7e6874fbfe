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
The detection confusion matrix counts boxes (see :func:`detection_confusion`).
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


def classification_matrices(
    tags: Sequence[str], vps: Sequence[Mapping[str, Any]]
) -> tuple[np.ndarray, np.ndarray]:
    """Classification validation predictions as (probabilities [N, K], true tags [N, K] bool), tags in order."""
    index = {t: i for i, t in enumerate(tags)}
    probs = np.zeros((len(vps), len(tags)), dtype=np.float64)
    truth = np.zeros((len(vps), len(tags)), dtype=bool)
    for r, vp in enumerate(vps):
        for p in vp.get("predictions", ()):
            if p["tag"] in index:
                probs[r, index[p["tag"]]] = float(p["probability"])
        for t in vp.get("tags", ()):
            if t in index:
                truth[r, index[t]] = True
    return probs, truth


def _classification(
    tags: Sequence[str], vps: Sequence[Mapping[str, Any]], threshold: float, multilabel: bool
) -> dict[str, Any]:
    n, k = len(vps), len(tags)
    ids = [str(vp["id"]) for vp in vps]
    probs, truth = classification_matrices(tags, vps)
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
            {
                "tag": tag,
                "precision": _ratio(tp, tp + fp),
                "recall": _ratio(tp, tp + fn),
                "ap": ap,
                "image_count": count,
            }
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
    return greedy_match(true_boxes, pred_boxes, pred_scores, iou_threshold) >= 0


def greedy_match(
    true_boxes: np.ndarray,
    pred_boxes: np.ndarray,
    pred_scores: np.ndarray,
    iou_threshold: float,
    allowed: np.ndarray | None = None,
) -> np.ndarray:
    """:func:`match_detections`, returning for each prediction the index of its true box (-1: none).

    ``allowed`` (predictions x true boxes, bool) restricts which pairs may match.
    """
    match = np.full(len(pred_boxes), -1, dtype=np.int64)
    if len(true_boxes) == 0 or len(pred_boxes) == 0:
        return match
    ious = box_iou(pred_boxes, true_boxes)
    if allowed is not None:
        ious = np.where(allowed, ious, -1.0)
    used = np.zeros(len(true_boxes), dtype=bool)
    for i in np.argsort(-np.asarray(pred_scores), kind="mergesort"):
        cand = np.where(used, -1.0, ious[i])
        j = int(np.argmax(cand))
        if cand[j] >= iou_threshold - 1e-12 and cand[j] >= 0:
            used[j] = True
            match[i] = j
    return match


def detection_confusion(
    tags: Sequence[str], vps: Sequence[Mapping[str, Any]], *, threshold: float, iou_threshold: float
) -> dict[str, Any]:
    """Box-level confusion of a detector at a probability and an IoU threshold.

    In each image the predictions at or above ``threshold`` are first matched to true boxes of their
    own tag (:func:`match_detections`, as precision and recall are); the predictions left over are
    then matched, greedily by score, to true boxes of *another* tag left over at IoU >=
    ``iou_threshold`` (a confusion). What still has no partner is a false positive on the
    background or a missed box.

    Returns:
        ``{"labels": tags, "columns": ["tp", "fp", "fn"], "matrix": [[tp, fp, fn] per tag],
        "cells": {"<tag>|tp" | "<tag>|fp" | "<tag>|fn": [image ids]}, "tags": {...}}`` where
        per tag (counts of boxes; the same numbers as ``per_tag`` precision and recall) ``fp``
        counts every unmatched prediction of the tag (confused or on the background) and ``fn``
        every true box of the tag that none of its predictions found. ``"tags"`` is the tag x tag
        matrix: ``{"labels": tags, "matrix": (K+1) x (K+1) box counts, "cells": {...}}`` with rows
        the true tag and columns the predicted tag, index K standing for "no box": ``matrix[a][a]``
        true positives, ``matrix[a][b]`` boxes of tag a found as tag b, ``matrix[a][K]`` boxes of a
        that nothing found, ``matrix[K][b]`` predictions of b where there is no box (``matrix[K][K]``
        is 0). Its cells are keyed ``"<true>|<predicted>"`` with an empty name for "no box"
        (``"cat|"``: missed cats, ``"|cat"``: cats predicted on the background). Image ids are in
        validation order, each once per cell.
    """
    k = len(tags)
    index = {t: i for i, t in enumerate(tags)}
    counts = np.zeros((k + 1, k + 1), dtype=np.int64)
    pair_cells: dict[tuple[int, int], list[str]] = {}
    for vp in vps:
        image = str(vp["id"])
        true = [b for b in vp.get("boxes", ()) if b["tag"] in index]
        preds = [
            p
            for p in vp.get("predictions", ())
            if p["tag"] in index and p.get("box") and float(p["probability"]) >= threshold
        ]
        t_lab = np.array([index[b["tag"]] for b in true], dtype=np.int64)
        p_lab = np.array([index[p["tag"]] for p in preds], dtype=np.int64)
        t_box = np.array([_box_array(b) for b in true]).reshape(-1, 4)
        p_box = np.array([_box_array(p["box"]) for p in preds]).reshape(-1, 4)
        scores = np.array([float(p["probability"]) for p in preds])
        match = np.full(len(preds), -1, dtype=np.int64)
        for c in range(k):  # same tag first, exactly as precision/recall count true positives
            pi, ti = np.nonzero(p_lab == c)[0], np.nonzero(t_lab == c)[0]
            m = greedy_match(t_box[ti], p_box[pi], scores[pi], iou_threshold)
            match[pi[m >= 0]] = ti[m[m >= 0]]
        left_p = np.nonzero(match < 0)[0]
        left_t = np.setdiff1d(np.arange(len(true)), match[match >= 0])
        cross = greedy_match(
            t_box[left_t],
            p_box[left_p],
            scores[left_p],
            iou_threshold,
            allowed=p_lab[left_p][:, None] != t_lab[left_t][None, :],
        )
        match[left_p[cross >= 0]] = left_t[cross[cross >= 0]]
        cells_here = [(int(t_lab[t]) if t >= 0 else k, int(p_lab[p])) for p, t in enumerate(match)]
        cells_here += [(int(t_lab[t]), k) for t in np.setdiff1d(np.arange(len(true)), match)]
        for cell in cells_here:
            counts[cell] += 1
            _add(pair_cells, cell, image)
    names = [*tags, ""]
    matrix, cells = [], {}
    for a, tag in enumerate(tags):
        tp = int(counts[a, a])
        fp = int(counts[:, a].sum()) - tp
        fn = int(counts[a, :].sum()) - tp
        matrix.append([tp, fp, fn])
        cells[f"{tag}|tp"] = list(pair_cells.get((a, a), []))
        cells[f"{tag}|fp"] = _images_in(pair_cells, [(b, a) for b in range(k + 1) if b != a], vps)
        cells[f"{tag}|fn"] = _images_in(pair_cells, [(a, b) for b in range(k + 1) if b != a], vps)
    return {
        "labels": list(tags),
        "columns": ["tp", "fp", "fn"],
        "matrix": matrix,
        "cells": cells,
        "tags": {
            "labels": list(tags),
            "matrix": counts.tolist(),
            "cells": {f"{names[a]}|{names[b]}": ids for (a, b), ids in sorted(pair_cells.items())},
        },
    }


def _add(cells: dict[tuple[int, int], list[str]], cell: tuple[int, int], image: str) -> None:
    ids = cells.setdefault(cell, [])
    if not ids or ids[-1] != image:
        ids.append(image)


def _images_in(
    cells: dict[tuple[int, int], list[str]], keys: Sequence[tuple[int, int]], vps: Sequence[Mapping[str, Any]]
) -> list[str]:
    """Images of several cells, once each, in validation order."""
    wanted = {i for key in keys for i in cells.get(key, ())}
    return [str(vp["id"]) for vp in vps if str(vp["id"]) in wanted]


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
    confusion = detection_confusion(tags, vps, threshold=threshold, iou_threshold=iou_threshold)
    return {"overall": overall, "per_tag": per_tag, "confusion": confusion}


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
    """Per-tag and overall precision/recall/AP and the confusion matrix.

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
