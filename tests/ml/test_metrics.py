"""Metrics: AP checked against scikit-learn and pycocotools on fixed inputs."""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from training.ml.metrics import average_precision, box_iou, compute_metrics, match_detections


def _cls_vp(i: int, true: list[str], probs: dict[str, float]) -> dict:
    return {
        "id": f"im{i}",
        "tags": true,
        "boxes": [],
        "predictions": [{"tag": t, "probability": p, "box": None} for t, p in probs.items()],
    }


def test_classification_ap_matches_sklearn_including_ties() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 60).astype(bool)
    s = np.round(rng.random(60), 1)  # many ties
    assert average_precision(s, y, int(y.sum())) == pytest.approx(average_precision_score(y, s), abs=1e-12)


def test_multiclass_metrics_precision_recall_and_confusion() -> None:
    vps = [
        _cls_vp(0, ["ant"], {"ant": 0.9, "bee": 0.1}),
        _cls_vp(1, ["ant"], {"ant": 0.3, "bee": 0.7}),
        _cls_vp(2, ["bee"], {"ant": 0.2, "bee": 0.8}),
        _cls_vp(3, ["bee"], {"ant": 0.45, "bee": 0.55}),
    ]
    m = compute_metrics("classification", ["ant", "bee"], vps)
    ant, bee = m["per_tag"]
    assert (ant["precision"], ant["recall"], ant["image_count"]) == (1.0, 0.5, 2)
    assert (bee["precision"], bee["recall"]) == (pytest.approx(2 / 3), 1.0)
    assert m["confusion"]["matrix"] == [[1, 1], [0, 2]]
    assert m["confusion"]["cells"]["ant|bee"] == ["im1"]
    assert m["overall"]["accuracy"] == 0.75
    truth = np.array([1, 1, 0, 0])
    assert ant["ap"] == pytest.approx(average_precision_score(truth, [0.9, 0.3, 0.2, 0.45]))
    assert m["overall"]["ap"] == pytest.approx((ant["ap"] + bee["ap"]) / 2)
    # A higher threshold changes precision/recall, not AP.
    m2 = compute_metrics("classification", ["ant", "bee"], vps, threshold=0.75)
    assert m2["per_tag"][1]["recall"] == 0.5 and m2["per_tag"][1]["ap"] == bee["ap"]
    json.dumps(m)


def test_multilabel_is_detected_and_reports_tp_fp_fn_cells() -> None:
    vps = [
        _cls_vp(0, ["a", "b"], {"a": 0.9, "b": 0.6}),
        _cls_vp(1, ["a"], {"a": 0.2, "b": 0.7}),
    ]
    m = compute_metrics("classification", ["a", "b"], vps)
    assert m["confusion"]["cells"]["a|fn"] == ["im1"]
    assert m["confusion"]["cells"]["b|fp"] == ["im1"]
    assert m["overall"]["accuracy"] == 0.5


def _random_detection_case(seed: int) -> tuple[list[str], list[dict]]:
    rng = np.random.default_rng(seed)
    tags = ["cat", "dog"]
    vps = []
    for i in range(25):
        boxes = []
        for _ in range(rng.integers(0, 4)):
            left, top = rng.random(2) * 0.6
            boxes.append({"tag": tags[rng.integers(0, 2)], "left": left, "top": top,
                          "width": 0.1 + rng.random() * 0.3, "height": 0.1 + rng.random() * 0.3})
        preds = []
        for b in boxes:  # noisy copies of true boxes plus random false ones
            if rng.random() < 0.8:
                jitter = rng.normal(0, 0.04, 4)
                preds.append({"tag": b["tag"] if rng.random() < 0.9 else tags[0],
                              "probability": float(rng.random()),
                              "box": {"left": b["left"] + jitter[0], "top": b["top"] + jitter[1],
                                      "width": abs(b["width"] + jitter[2]), "height": abs(b["height"] + jitter[3])}})
        for _ in range(rng.integers(0, 3)):
            left, top = rng.random(2) * 0.7
            preds.append({"tag": tags[rng.integers(0, 2)], "probability": float(rng.random()),
                          "box": {"left": left, "top": top, "width": 0.2, "height": 0.2}})
        vps.append({"id": f"im{i}", "tags": sorted({b["tag"] for b in boxes}), "boxes": boxes, "predictions": preds})
    return tags, vps


def _pycocotools_ap(tags: list[str], vps: list[dict]) -> list[float]:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    scale = 1000.0
    images = [{"id": i, "width": 1000, "height": 1000} for i in range(len(vps))]
    anns, dets = [], []
    for i, vp in enumerate(vps):
        for b in vp["boxes"]:
            bb = [b["left"] * scale, b["top"] * scale, b["width"] * scale, b["height"] * scale]
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": tags.index(b["tag"]) + 1,
                         "bbox": bb, "area": bb[2] * bb[3], "iscrowd": 0})
        for p in vp["predictions"]:
            b = p["box"]
            dets.append({"image_id": i, "category_id": tags.index(p["tag"]) + 1, "score": p["probability"],
                         "bbox": [b["left"] * scale, b["top"] * scale, b["width"] * scale, b["height"] * scale]})
    gt = COCO()
    gt.dataset = {"images": images, "annotations": anns,
                  "categories": [{"id": j + 1, "name": t} for j, t in enumerate(tags)]}
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
        dt = gt.loadRes(dets)
        ev = COCOeval(gt, dt, "bbox")
        ev.params.iouThrs = np.array([0.5])
        ev.params.maxDets = [1000]
        ev.params.areaRng = [[0, 1e10]]
        ev.params.areaRngLbl = ["all"]
        ev.evaluate()
        ev.accumulate()
    prec = ev.eval["precision"][0, :, :, 0, 0]  # (recall points, categories)
    return [float(prec[:, k].mean()) for k in range(len(tags))]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_detection_ap_matches_pycocotools(seed: int) -> None:
    tags, vps = _random_detection_case(seed)
    m = compute_metrics("detection", tags, vps, interpolation="coco101")
    expected = _pycocotools_ap(tags, vps)
    assert [t["ap"] for t in m["per_tag"]] == pytest.approx(expected, abs=1e-9)
    assert m["overall"]["ap"] == pytest.approx(np.mean(expected), abs=1e-9)


def test_detection_all_point_ap_and_threshold_counts() -> None:
    box = {"left": 0.1, "top": 0.1, "width": 0.4, "height": 0.4}
    far = {"left": 0.6, "top": 0.6, "width": 0.2, "height": 0.2}
    vps = [
        {"id": "a", "tags": ["x"], "boxes": [{"tag": "x", **box}],
         "predictions": [{"tag": "x", "probability": 0.9, "box": box},
                         {"tag": "x", "probability": 0.8, "box": box},  # duplicate -> FP
                         {"tag": "x", "probability": 0.3, "box": far}]},
        {"id": "b", "tags": ["x"], "boxes": [{"tag": "x", **box}],
         "predictions": [{"tag": "x", "probability": 0.4, "box": box}]},
    ]
    m = compute_metrics("detection", ["x"], vps)
    x = m["per_tag"][0]
    # Ranked: TP(0.9) FP(0.8) TP(0.4) FP(0.3) over 2 positives -> 0.5*1 + 0.5*(2/3).
    assert x["ap"] == pytest.approx(0.5 + 0.5 * 2 / 3)
    assert (x["precision"], x["recall"]) == (0.5, 0.5)  # at 0.5: TP 0.9, FP 0.8; box b missed
    assert match_detections(np.array([[0, 0, 1, 1]]), np.zeros((0, 4)), np.zeros(0), 0.5).size == 0


def test_box_iou_matches_torchvision() -> None:
    """The one IoU in the code base (left, top, width, height) against torchvision's (xyxy)."""
    import torch
    from torchvision.ops import box_iou as tv_box_iou

    rng = np.random.default_rng(3)
    a, b = rng.uniform(0, 0.5, (7, 4)), rng.uniform(0, 0.5, (5, 4))
    a[0], b[0] = [0.0, 0.0, 0.5, 0.5], [0.5, 0.5, 0.5, 0.5]  # touching corners: no overlap
    xyxy = lambda x: torch.tensor(np.c_[x[:, :2], x[:, :2] + x[:, 2:]])  # noqa: E731
    np.testing.assert_allclose(box_iou(a, b), tv_box_iou(xyxy(a), xyxy(b)).numpy(), atol=1e-12)
    assert box_iou(a[:1], b[:1])[0, 0] == 0.0
    assert box_iou(a[:1], a[:1])[0, 0] == pytest.approx(1.0)


B1 = {"left": 0.1, "top": 0.1, "width": 0.3, "height": 0.3}
B2 = {"left": 0.6, "top": 0.6, "width": 0.3, "height": 0.3}
B3 = {"left": 0.6, "top": 0.1, "width": 0.2, "height": 0.2}


def _det_vp(i: int, boxes: list[tuple[str, dict]], preds: list[tuple[str, float, dict]]) -> dict:
    return {
        "id": f"im{i}",
        "tags": sorted({t for t, _ in boxes}),
        "boxes": [{"tag": t, **b} for t, b in boxes],
        "predictions": [{"tag": t, "probability": p, "box": b} for t, p, b in preds],
    }


def test_detection_confusion_counts_boxes_per_tag_and_between_tags() -> None:
    vps = [
        _det_vp(1, [("cat", B1), ("dog", B2)], [("cat", 0.9, B1), ("cat", 0.8, B2)]),  # a dog found as a cat
        _det_vp(2, [("dog", B1)], [("dog", 0.7, B3)]),  # a dog beside the dog: background + missed
        _det_vp(3, [("cat", B1)], [("cat", 0.6, B1), ("cat", 0.55, B1), ("dog", 0.3, B1)]),  # duplicate; 0.3 < 0.5
        _det_vp(4, [("cat", B2)], [("dog", 0.7, B2), ("cat", 0.4, B2)]),  # a cat found as a dog
        _det_vp(5, [], [("cat", 0.9, B1)]),  # a cat where there is nothing
    ]
    m = compute_metrics("detection", ["cat", "dog"], vps)
    c = m["confusion"]
    assert c["labels"] == ["cat", "dog"] and c["columns"] == ["tp", "fp", "fn"]
    assert c["matrix"] == [[2, 3, 1], [0, 2, 2]]
    assert c["cells"] == {
        "cat|tp": ["im1", "im3"],
        "cat|fp": ["im1", "im3", "im5"],
        "cat|fn": ["im4"],
        "dog|tp": [],
        "dog|fp": ["im2", "im4"],
        "dog|fn": ["im1", "im2"],
    }
    # Rows: true cat, dog, no box; columns: predicted cat, dog, nothing.
    assert c["tags"]["labels"] == ["cat", "dog"]
    assert c["tags"]["matrix"] == [[2, 1, 0], [1, 0, 1], [2, 1, 0]]
    assert c["tags"]["cells"] == {
        "cat|cat": ["im1", "im3"],
        "cat|dog": ["im4"],
        "dog|cat": ["im1"],
        "dog|": ["im2"],
        "|cat": ["im3", "im5"],
        "|dog": ["im2"],
    }
    cat, dog = m["per_tag"]
    assert (cat["precision"], cat["recall"]) == (pytest.approx(2 / 5), pytest.approx(2 / 3))
    assert (dog["precision"], dog["recall"]) == (0.0, 0.0)
    json.dumps(m)


def test_detection_confusion_between_tags_needs_the_iou_threshold() -> None:
    shifted = {**B1, "left": B1["left"] + 0.075}  # IoU 0.6 with B1
    vps = [_det_vp(1, [("dog", B1)], [("cat", 0.9, shifted)])]
    loose = compute_metrics("detection", ["cat", "dog"], vps, iou_threshold=0.5)["confusion"]["tags"]
    strict = compute_metrics("detection", ["cat", "dog"], vps, iou_threshold=0.7)["confusion"]["tags"]
    assert loose["matrix"] == [[0, 0, 0], [1, 0, 0], [0, 0, 0]] and loose["cells"] == {"dog|cat": ["im1"]}
    assert strict["matrix"] == [[0, 0, 0], [0, 0, 1], [1, 0, 0]] and set(strict["cells"]) == {"dog|", "|cat"}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_detection_confusion_agrees_with_precision_and_recall(seed: int) -> None:
    tags, vps = _random_detection_case(seed)
    for threshold in (0.2, 0.5, 0.8):
        m = compute_metrics("detection", tags, vps, threshold=threshold)
        counts = np.array(m["confusion"]["tags"]["matrix"])
        for j, row in enumerate(m["per_tag"]):
            tp, fp, fn = m["confusion"]["matrix"][j]
            assert row["precision"] == pytest.approx(tp / (tp + fp) if tp + fp else 0.0)
            assert row["recall"] == pytest.approx(tp / (tp + fn) if tp + fn else 0.0)
            assert counts[j].sum() == row["box_count"]  # every true box lands in exactly one cell
            kept = sum(
                p["tag"] == row["tag"] and p["probability"] >= threshold for vp in vps for p in vp["predictions"]
            )
            assert counts[:, j].sum() == kept  # and so does every prediction at the threshold
        assert counts[-1, -1] == 0
