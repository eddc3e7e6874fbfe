"""Detection: box-aware augmentation, target assignment, decoding/NMS, bad boxes, training, export."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from tests.factories import DATASETS
from training.ml import errors
from training.ml.config import TrainConfig
from training.ml.detection import DetectionPredictor, export_detector_onnx, features, train_detector
from training.ml.detection import data as ddata
from training.ml.detection.engine import Recipe, make_split
from training.ml.detection.features import FeatureStore, views_per_image
from training.ml.detection.head import continued_steps, train_head
from training.ml.detection.model import DetectionHead, assign_targets, decode, fcos_loss, locations, loss_norms
from training.ml.manifest import Box, Manifest, Sample
from training.ml.metrics import compute_metrics

RACCOON = DATASETS / "raccoon"  # raccoon-1..4 (MIT), downscaled, in the repository

# Small enough for a ~10 s CPU fit, big enough to learn one raccoon box.
TINY_RECIPE = Recipe(
    image_size=128, views_per_image=6, epochs=25, min_steps=0, batch_size=8, lr=3e-3, channels=32, num_convs=1
)


def _square_image(size: tuple[int, int], box: tuple[int, int, int, int]) -> torch.Tensor:
    """Grey (3, H, W) uint8 image with a pure red rectangle at pixel ``box`` (x0, y0, x1, y1)."""
    w, h = size
    img = torch.full((3, h, w), 90, dtype=torch.uint8)
    x0, y0, x1, y1 = box
    img[:, y0:y1, x0:x1] = torch.tensor([250, 10, 10], dtype=torch.uint8)[:, None, None]
    return img


def _target(boxes: list[tuple[float, float, float, float]], labels: list[int]) -> ddata.Target:
    return ddata.Target(torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4), torch.tensor(labels))


def _raccoon_manifest(names: list[str], split: dict[str, str] | None = None) -> Manifest:
    data = json.loads((RACCOON / "manifest.json").read_text())
    samples = []
    for rel in names:
        info = data["images"][rel]
        boxes = tuple(Box(r["tag"], r["left"], r["top"], r["width"], r["height"]) for r in info["regions"])
        samples.append(
            Sample(id=rel, path=str(RACCOON / rel), tags=("raccoon",), boxes=boxes, split=(split or {}).get(rel))
        )
    return Manifest(task="detection", tags=("raccoon",), samples=tuple(samples))


# --------------------------------------------------------------------------- augmentation


def test_random_views_keep_boxes_on_the_object() -> None:
    img = _square_image((200, 150), (50, 40, 130, 110))
    tgt = _target([(50 / 200, 40 / 150, 130 / 200, 110 / 150)], [0])
    rng = np.random.default_rng(0)
    flipped_seen = False
    for _ in range(30):
        view, boxes, labels = ddata.random_view(img, tgt, 64, rng)
        assert view.shape == (3, 64, 64) and view.dtype == torch.uint8
        assert boxes.shape == (1, 4) and labels.tolist() == [0]
        x0, y0, x1, y1 = boxes[0].tolist()
        assert 0 <= x0 < x1 <= 64 and 0 <= y0 < y1 <= 64
        # Inside the box the view is red; just outside (where visible) it is not.
        inner = view[:, math.ceil(y0) + 2 : math.floor(y1) - 2, math.ceil(x0) + 2 : math.floor(x1) - 2].float()
        assert inner[0].mean() > 150 and inner[1].mean() < 90
        red = (view[0].float() > 150) & (view[1].float() < 90)
        ys, xs = torch.nonzero(red, as_tuple=True)
        assert abs(xs.min().item() - x0) <= 2 and abs(xs.max().item() + 1 - x1) <= 2
        assert abs(ys.min().item() - y0) <= 2 and abs(ys.max().item() + 1 - y1) <= 2
        flipped_seen |= x0 > 64 - x1 + 4
    assert flipped_seen


def test_random_view_drops_boxes_cropped_out_and_keeps_shape() -> None:
    # Two small objects in opposite corners: zoomed-in crops often keep one of them only.
    img = _square_image((300, 300), (10, 10, 40, 40))
    img[:, 260:290, 260:290] = torch.tensor([250, 10, 10], dtype=torch.uint8)[:, None, None]
    tgt = _target([(10 / 300, 10 / 300, 40 / 300, 40 / 300), (260 / 300, 260 / 300, 290 / 300, 290 / 300)], [0, 1])
    rng = np.random.default_rng(1)
    counts = set()
    for _ in range(40):
        view, boxes, labels = ddata.random_view(img, tgt, 64, rng, zoom=(0.3, 1.0))
        assert view.shape == (3, 64, 64)
        counts.add(len(boxes))
        for b in boxes:
            w, h = (b[2] - b[0]).item(), (b[3] - b[1]).item()
            assert w >= 2 and h >= 2
    assert 2 in counts and (1 in counts or 0 in counts)


def test_full_view_scales_boxes_to_the_view() -> None:
    img = _square_image((100, 50), (10, 10, 60, 40))
    tgt = _target([(0.1, 0.2, 0.6, 0.8)], [0])
    view, boxes, _ = ddata.full_view(img, tgt, 64)
    assert view.shape == (3, 64, 64)
    assert torch.allclose(boxes, torch.tensor([[6.4, 12.8, 38.4, 51.2]]))


# --------------------------------------------------------------------------- boxes


@pytest.mark.parametrize(
    "box",
    [
        Box("a", 0.5, 0.5, 0.6, 0.2),  # right edge at 1.1
        Box("a", -0.2, 0.1, 0.3, 0.3),  # left of the image
        Box("a", 0.1, 0.1, 0.0, 0.3),  # zero width
        Box("a", 0.1, 0.1, 0.3, -0.1),  # negative height
        Box("b", 0.1, 0.1, 0.3, 0.3),  # unknown tag
        Box("a", float("nan"), 0.1, 0.3, 0.3),
    ],
)
def test_bad_boxes_raise_invalid_region(box: Box, tmp_path: Path) -> None:
    sample = Sample(id="x", path="missing.jpg", tags=("a",), boxes=(box,))
    with pytest.raises(errors.InvalidRegion) as exc:
        ddata.sample_target(sample, ("a",))
    assert exc.value.code == "BadRequestInvalidRegion"
    manifest = Manifest(task="detection", tags=("a",), samples=(sample,))
    with pytest.raises(errors.InvalidRegion):
        train_detector(manifest, TrainConfig(), tmp_path)


def test_tiny_overshoot_is_clipped_and_images_without_boxes_are_negatives() -> None:
    sample = Sample(id="x", path="x.jpg", boxes=(Box("a", 0.5, 0.5, 0.5004, 0.2),))
    assert ddata.sample_target(sample, ("a",)).boxes[0, 2].item() == 1.0
    empty = ddata.sample_target(Sample(id="y", path="y.jpg"), ("a",))
    assert empty.boxes.shape == (0, 4) and empty.labels.shape == (0,)


def test_empty_manifest_and_no_boxes_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(errors.EmptyManifest):
        train_detector(Manifest(task="detection", tags=("a",), samples=()), TrainConfig(), tmp_path)
    negatives = Manifest(task="detection", tags=("a",), samples=(Sample(id="y", path="y.jpg"),))
    with pytest.raises(errors.NotEnoughImagesPerTag):
        train_detector(negatives, TrainConfig(), tmp_path)


# --------------------------------------------------------------------------- targets and decoding


def test_assignment_puts_a_big_box_on_a_coarse_level_and_a_small_one_on_the_finest() -> None:
    points, strides, levels = locations(320)
    boxes = torch.tensor([[20.0, 20.0, 300.0, 300.0], [10.0, 10.0, 40.0, 40.0]])
    labels, ltrb = assign_targets(points, strides, levels, boxes, torch.tensor([0, 1]))
    big = labels == 0
    small = labels == 1
    assert big.any() and small.any()
    assert set(levels[big].tolist()) == {2} and set(levels[small].tolist()) == {0}
    # Distances reproduce the box from every positive location.
    pts = points[big]
    rebuilt = torch.cat([pts - ltrb[big][:, :2], pts + ltrb[big][:, 2:]], 1)
    assert torch.allclose(rebuilt, boxes[0].expand_as(rebuilt))
    assert (labels == -1).sum() > 0.9 * len(labels)


def test_nearest_assignment_gives_a_box_between_location_centres_one_positive() -> None:
    points, strides, levels = locations(320)  # P4-P6: location centres every 16 px, at 8, 24, 40, ...
    boxes = torch.tensor([[20.0, 20.0, 300.0, 300.0], [10.0, 10.0, 16.0, 16.0]])  # the 6 px box holds no centre
    labels = torch.tensor([0, 1])
    plain_labels, plain_ltrb = assign_targets(points, strides, levels, boxes, labels, "fcos")
    near_labels, near_ltrb = assign_targets(points, strides, levels, boxes, labels, "fcos+nearest")
    assert not (plain_labels == 1).any()  # FCOS learns the tiny box as background
    tiny = torch.nonzero(near_labels == 1).flatten()
    assert len(tiny) == 1 and levels[tiny].item() == 0
    assert points[tiny].tolist() == [[8.0, 8.0]]  # the nearest centre, 2 px outside the box
    # Its target is the box grown to reach the location (distances >= 0.5 px), so IoU with the box stays high.
    rebuilt = torch.cat([points[tiny] - near_ltrb[tiny, :2], points[tiny] + near_ltrb[tiny, 2:]], 1)[0]
    assert rebuilt.tolist() == [7.5, 7.5, 16.0, 16.0]
    # Boxes FCOS already covers keep exactly FCOS's positives and distances.
    big = plain_labels == 0
    assert torch.equal(near_labels == 0, big) and torch.allclose(near_ltrb[big], plain_ltrb[big])
    with pytest.raises(ValueError):
        assign_targets(points, strides, levels, boxes, labels, "atss")


def test_auto_recipe_adds_the_stride_8_level_only_when_small_boxes_are_common() -> None:
    from training.ml.detection.head import P3_STRIDES, STRIDES, auto_recipe

    raccoon = [_target([(0.1, 0.2, 0.8, 0.95)], [0]), _target([(0.3, 0.3, 0.6, 0.7)], [0])]
    tiny = [_target([(0.1, 0.1, 0.14, 0.13), (0.5, 0.5, 0.53, 0.54), (0.2, 0.6, 0.7, 0.9)], [0, 0, 0])]
    assert auto_recipe(raccoon).strides == STRIDES and auto_recipe(raccoon).image_size == 320
    assert auto_recipe(tiny).strides == P3_STRIDES and auto_recipe(tiny, 448).image_size == 448
    # "Small" is in input pixels: 40 px boxes at 320 px are small, at 1024 px they are not.
    mid = [_target([(0.1, 0.1, 0.22, 0.22)], [0])]
    assert auto_recipe(mid, 256).strides == P3_STRIDES and auto_recipe(mid, 1024).strides == STRIDES
    assert auto_recipe([_target([], [])]).strides == STRIDES
    # bf16 head convolutions where this CPU multiplies bf16 natively, float32 elsewhere.
    from training.ml.runtime import native_bf16

    assert auto_recipe(raccoon).bf16 is native_bf16() and Recipe().bf16 is False
    # The progress estimate knows a P3 head step costs several plain ones, a bf16 one less; the other units are
    # the trunk's.
    from training.ml.detection.engine import BF16_HEAD_COST, P3_HEAD_COST, unit_seconds

    plain, p3 = unit_seconds("lite0", 320), unit_seconds("lite0", 320, P3_STRIDES)
    assert p3["head_step"] == pytest.approx(plain["head_step"] * P3_HEAD_COST)
    assert {k: v for k, v in p3.items() if k != "head_step"} == {k: v for k, v in plain.items() if k != "head_step"}
    bf16 = unit_seconds("lite0", 320, P3_STRIDES, bf16=True)
    assert bf16["head_step"] == pytest.approx(p3["head_step"] * BF16_HEAD_COST) and bf16["save"] == p3["save"]


def _fake_outputs(points: torch.Tensor, entries: list[tuple[int, int, float, list[float]]], k: int):
    """Head outputs with given (location, class, probability, ltrb) and everything else at ~0."""
    n = points.shape[0]
    cls = torch.full((1, n, k), -20.0)
    ltrb = torch.full((1, n, 4), 4.0)
    ctr = torch.full((1, n), 20.0)  # centerness ~1, so score ~= class probability
    for loc, c, p, d in entries:
        cls[0, loc, c] = math.log(p / (1 - p))
        ltrb[0, loc] = torch.tensor(d)
    return cls, ltrb, ctr


def test_decode_applies_class_aware_nms_and_normalises_boxes() -> None:
    points, _, _ = locations(128)
    near = [int(i) for i in torch.nonzero((points[:, 0] == 56) & (points[:, 1] == 56)).flatten()[:1]]
    loc = near[0]
    d = [30.0, 30.0, 30.0, 30.0]
    other = loc + 1  # neighbour at the same level: the same box shifted by one stride (IoU > 0.5)
    outs = _fake_outputs(points, [(loc, 0, 0.9, d), (other, 0, 0.8, d), (other, 1, 0.7, d)], k=2)
    boxes, scores, labels = decode(outs, points, 128)
    assert labels.tolist() == [0, 1]  # same-class duplicate suppressed, other class kept
    assert scores[0].item() == pytest.approx(math.sqrt(0.9), abs=1e-3)  # sqrt(class * centerness)
    x, y = points[loc].tolist()
    assert boxes[0].tolist() == pytest.approx([(x - 30) / 128, (y - 30) / 128, (x + 30) / 128, (y + 30) / 128])
    assert ((boxes >= 0) & (boxes <= 1)).all()


def test_decode_ranks_saturated_scores_by_logit() -> None:
    # sigmoid(25) and sigmoid(30) are both exactly 1.0 in float32: ranking in log space keeps the
    # stronger location, so torch and the ONNX graph cannot break the tie differently.
    points, _, _ = locations(128)
    loc = int(torch.nonzero((points[:, 0] == 56) & (points[:, 1] == 56)).flatten()[0])
    d = [30.0, 30.0, 30.0, 30.0]
    outs = _fake_outputs(points, [(loc, 0, 0.5, d), (loc + 1, 0, 0.5, d)], k=1)
    outs[0][0, loc, 0], outs[0][0, loc + 1, 0] = 25.0, 30.0
    boxes, scores, _ = decode(outs, points, 128)
    assert len(boxes) == 1 and scores[0].item() == 1.0
    assert boxes[0, 0].item() == pytest.approx((points[loc + 1, 0].item() - 30) / 128)


def test_decode_keeps_at_most_300_boxes_above_the_floor() -> None:
    points, _, _ = locations(1024)
    n = points.shape[0]
    cls = torch.full((1, n, 1), 0.0)  # p = 0.5 everywhere
    cls[0, ::2] = -10.0  # ~0.007 after sqrt(p * ctr): below the 0.01 floor
    ltrb = torch.full((1, n, 4), 2.0)  # tiny boxes: no overlap, nothing suppressed
    ctr = torch.full((1, n), 20.0)
    boxes, scores, labels = decode((cls, ltrb, ctr), points, 1024)
    assert len(boxes) == 300 and (scores > 0.01).all()
    assert torch.all(scores[:-1] >= scores[1:])


def test_split_uses_given_field_else_seeded_holdout() -> None:
    m = Manifest(
        task="detection",
        tags=("a",),
        samples=tuple(
            Sample(id=str(i), path="p", boxes=(Box("a", 0.1, 0.1, 0.2, 0.2),), split="test" if i < 3 else "train")
            for i in range(10)
        ),
    )
    s = make_split(m, TrainConfig())
    assert s.method == "given" and s.folds == [(list(range(3, 10)), [0, 1, 2])]
    plain = Manifest(
        task="detection",
        tags=("a",),
        samples=tuple(Sample(id=str(i), path="p", tags=("a",) if i % 2 else ()) for i in range(40)),
    )
    a, b = make_split(plain, TrainConfig(seed=3)), make_split(plain, TrainConfig(seed=3))
    assert a.method == "holdout" and a.folds == b.folds and len(a.folds[0][1]) == 12
    assert make_split(plain, TrainConfig(seed=4)).folds != a.folds
    small = make_split(Manifest(task="detection", tags=("a",), samples=plain.samples[:9]), TrainConfig())
    assert small.method == "kfold" and small.k == 3 and sorted(sum((v for _, v in small.folds), [])) == list(range(9))


# --------------------------------------------------------------------------- head training


def _tiny_store(views: int = 6) -> FeatureStore:
    """Random C4 / C5 maps of a 128 px input (strides 16 and 32) with one box per view."""
    g = torch.Generator().manual_seed(0)
    feats = [
        torch.empty(0),
        torch.randn(views, 16, 8, 8, generator=g).half(),
        torch.randn(views, 32, 4, 4, generator=g).half(),
    ]
    points, strides, levels = locations(128)
    labels, ltrb = zip(
        *(
            assign_targets(points, strides, levels, torch.tensor([[20.0 + v, 30.0, 90.0, 100.0]]), torch.tensor([0]))
            for v in range(views)
        ),
        strict=True,
    )
    return FeatureStore(feats, torch.stack(labels).to(torch.int16), torch.stack(ltrb), torch.arange(views))


def test_views_per_image_shrink_with_the_set_but_keep_one_augmented_view_until_memory_runs_out() -> None:
    recipe = Recipe()  # 8 views per image, 600 views budgeted, 3000 at most
    counts = {n: views_per_image(n, recipe) for n in (1, 40, 75, 76, 200, 300, 1000, 1500, 1501, 5000)}
    assert counts == {1: 8, 40: 8, 75: 8, 76: 7, 200: 3, 300: 2, 1000: 2, 1500: 2, 1501: 1, 5000: 1}


def test_a_continued_head_starts_from_the_given_weights_and_leaves_them_alone() -> None:
    store, recipe = _tiny_store(), Recipe(image_size=128, batch_size=4, channels=16, num_convs=1, epochs=2, min_steps=0)
    views = torch.arange(6)
    steps: list[int] = []
    first = train_head(store, views, 1, (8, 16, 32), recipe, 0, lambda done, total, _: steps.append(total))
    assert steps == [4] * 4  # 2 epochs of ceil(6 / 4) steps
    before = {k: v.clone() for k, v in first.state_dict().items()}
    same = train_head(store, views, 1, (8, 16, 32), recipe, 5, lambda *_: None, start=first, steps=0)
    assert all(torch.equal(v, before[k]) for k, v in same.state_dict().items())
    steps.clear()
    on = train_head(
        store, views, 1, (8, 16, 32), recipe, 0, lambda done, total, _: steps.append(done), start=first, steps=3
    )
    assert steps == [1, 2, 3]
    assert all(torch.equal(v, before[k]) for k, v in first.state_dict().items())  # the start head is untouched
    assert not all(torch.equal(v, before[k]) for k, v in on.state_dict().items())
    assert continued_steps(75, recipe) == 27 and continued_steps(1, recipe) == 1


def _head_and_batch(num_classes: int, num_convs: int) -> tuple[DetectionHead, list[torch.Tensor], torch.Tensor,
                                                                  torch.Tensor, torch.Tensor]:
    """A seeded 16-channel head and a batch of 8 tiny views: (head, feats, labels, ltrb, points)."""
    store = _tiny_store(8)
    torch.manual_seed(0)
    head = DetectionHead((8, 16, 32), num_classes, channels=16, num_convs=num_convs)
    feats = [f.float() if f.numel() else f for f in store.feats]
    return head, feats, store.labels.long(), store.ltrb, locations(128)[0]


def test_shards_of_a_batch_add_up_to_the_batch_loss_and_gradient() -> None:
    head, feats, labels, ltrb, points = _head_and_batch(1, 1)
    whole = fcos_loss(head(feats), labels, ltrb, points)
    whole.backward()  # type: ignore[no-untyped-call]
    expected = [p.grad.clone() for p in head.parameters()]  # type: ignore[union-attr]
    head.zero_grad(set_to_none=True)
    norms, total = loss_norms(labels, ltrb), 0.0
    for part in torch.arange(8).tensor_split(2):
        loss = fcos_loss(head([f[part] if f.numel() else f for f in feats]), labels[part], ltrb[part], points, norms)
        loss.backward()  # type: ignore[no-untyped-call]
        total += float(loss.detach())
    assert total == pytest.approx(float(whole.detach()), rel=1e-6)
    for p, g in zip(head.parameters(), expected, strict=True):
        assert torch.allclose(p.grad, g, rtol=1e-4, atol=1e-7)  # type: ignore[arg-type]


def test_sharded_head_training_is_deterministic_and_follows_the_one_thread_training() -> None:
    store = _tiny_store(5)  # batches of 4 and 1: the last batch has one shard only
    views = torch.arange(5)
    recipe = Recipe(image_size=128, batch_size=4, channels=16, num_convs=1, epochs=3, min_steps=0)

    def trained(shards: int) -> dict[str, torch.Tensor]:
        head = train_head(store, views, 1, (8, 16, 32), replace(recipe, shards=shards), 0, lambda *_: None)
        return head.state_dict()

    one, two, again = trained(1), trained(2), trained(2)
    assert all(torch.equal(v, again[k]) for k, v in two.items())  # bit for bit
    assert all(v.is_contiguous() for v in two.values())  # channels-last only while training
    # The same sums in another order: the same function. Not the same weights on every CPU: AdamW turns a gradient
    # that is rounding noise into a full-size step one way or the other (on an AVX2 EPYC some weights end 2e-3 apart).
    # Another seed moves the loss by 2.5 % and the outputs by 15-90 % of their range; the shards by 0.004 % and 0.1 %.
    feats, points = [f.float() if f.numel() else f for f in store.feats], locations(128)[0]
    losses, outputs = [], []
    for state in (one, two):
        head = DetectionHead((8, 16, 32), 1, channels=16, num_convs=1)
        head.load_state_dict(state)
        with torch.no_grad():
            outputs.append(head.eval()(feats))
            losses.append(float(fcos_loss(outputs[-1], store.labels.long(), store.ltrb, points)))
    assert losses[1] == pytest.approx(losses[0], rel=1e-3)
    for a, b in zip(*outputs, strict=True):
        assert torch.allclose(a, b, rtol=0, atol=0.01 * float(a.abs().max()))


def test_a_bf16_head_convolves_in_bf16_and_normalises_predicts_and_answers_in_float32() -> None:
    head, feats, labels, ltrb, points = _head_and_batch(2, 2)
    seen: dict[str, list[torch.dtype]] = {}

    def watch(name: str) -> Any:
        return lambda _m, args, out: seen.setdefault(name, []).extend([args[0].dtype, out.dtype])

    hooks = [head.cls_tower[0].register_forward_hook(watch("tower conv")),
             head.cls_tower[1].register_forward_hook(watch("groupnorm")),
             head.cls_logits.register_forward_hook(watch("prediction conv"))]
    expected = head(feats)
    fcos_loss(expected, labels, ltrb, points).backward()  # type: ignore[no-untyped-call]
    grads = [p.grad.clone() for p in head.parameters()]  # type: ignore[union-attr]
    head.zero_grad(set_to_none=True)
    seen.clear()
    got = head(feats, bf16=True)
    for h in hooks:
        h.remove()
    assert set(seen["tower conv"][1::2]) == {torch.bfloat16}  # (input, output) once per level
    assert set(seen["groupnorm"]) == {torch.float32}
    assert set(seen["prediction conv"]) == {torch.float32}
    assert all(g.dtype == torch.float32 for g in got)
    assert all(p.dtype == torch.float32 for p in head.parameters())
    for a, b in zip(got, expected, strict=True):
        assert torch.allclose(a, b, rtol=0.05, atol=0.05)
    fcos_loss(got, labels, ltrb, points).backward()  # type: ignore[no-untyped-call]
    for p, g in zip(head.parameters(), grads, strict=True):
        assert p.grad is not None and p.grad.dtype == torch.float32
        assert torch.nn.functional.cosine_similarity(p.grad.flatten(), g.flatten(), dim=0) > 0.99


def test_bf16_head_training_is_deterministic_and_exports_float32() -> None:
    store = _tiny_store(5)
    views = torch.arange(5)
    recipe = Recipe(image_size=128, batch_size=4, channels=16, num_convs=1, epochs=3, min_steps=0, bf16=True)
    one = train_head(store, views, 1, (8, 16, 32), recipe, 0, lambda *_: None).state_dict()
    again = train_head(store, views, 1, (8, 16, 32), recipe, 0, lambda *_: None).state_dict()
    plain = train_head(store, views, 1, (8, 16, 32), replace(recipe, bf16=False), 0, lambda *_: None).state_dict()
    assert all(torch.equal(v, again[k]) for k, v in one.items())  # bit for bit
    assert all(v.dtype == plain[k].dtype and v.is_contiguous() for k, v in one.items())
    assert any(not torch.equal(v, plain[k]) for k, v in one.items())  # it did train in bf16


# --------------------------------------------------------------------------- real training


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory):
    """A short fit on 4 raccoon photos (3 train, 1 given validation image)."""
    names = [f"images/raccoon-{i}.jpg" for i in (1, 2, 3, 4)]
    manifest = _raccoon_manifest(names, split={names[-1]: "test"})
    seen: list[tuple[float, str]] = []
    result = train_detector(
        manifest,
        TrainConfig(seed=0, image_size=128),
        tmp_path_factory.mktemp("det"),
        recipe=TINY_RECIPE,
        progress=lambda f, s: seen.append((f, s)),
    )
    return manifest, result, seen


def test_tiny_training_finds_the_raccoon(tiny_run) -> None:
    manifest, result, seen = tiny_run
    m = result.metrics
    assert m["task"] == "detection" and m["split"]["method"] == "given"
    assert m["split"]["val_ids"] == ["images/raccoon-4.jpg"] and len(m["split"]["train_ids"]) == 3
    assert [v["id"] for v in m["validation_predictions"]] == ["images/raccoon-4.jpg"]
    assert set(m["overall"]) >= {"precision", "recall", "ap"}
    json.dumps(m)
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    # Every stage names its phase: "<phase>: <detail>".
    stages = [s for _, s in seen]
    assert "Validation split (3 train / 1 validation images): training the head, epoch 1 of 25" in stages
    assert "Validation split (3 train / 1 validation images): evaluating, image 1 of 1" in stages
    # Hold-out: the validated head (25 epochs of 3 steps) goes on over all 4 images for 35 % of its steps
    # (27 steps of 3 per epoch), instead of a second training from scratch.
    assert "Final training on all 4 images: training the head, epoch 9 of 9" in stages
    assert not any(s.startswith("Final training") and "epoch 10 " in s for s in stages)
    assert "the validated head (75 steps) trained on for 27 more steps over all 4 images" in " ".join(m["notes"])
    assert stages[-2:] == ["Saving the model: exporting the detector to ONNX", "Done"]
    assert m["tiles"] is None and not any("tile" in s for s in stages)  # P4-P6: tiles are not measured
    predictor = DetectionPredictor.load(result.artifact_path)
    assert predictor.task == "detection" and predictor.tags == ["raccoon"]
    sample = manifest.samples[0]
    preds = predictor.predict(manifest.resolve(sample))
    assert preds and preds[0].tag == "raccoon" and preds[0].box.tag == "raccoon"
    assert all(p.probability >= 0.01 for p in preds) and len(preds) <= 300
    true = sample.boxes[0]
    assert _iou(preds[0].box, true) > 0.5, (preds[0], true)
    assert predictor.predict_many([manifest.resolve(sample)])[0] == preds


def test_the_predictor_decodes_in_onnxruntime_as_the_torch_function_does(tiny_run, tmp_path: Path) -> None:
    """decode.onnx (traced from ``model.decode`` at MAX_DETECTIONS) answers, cut to a smaller cap, exactly what
    ``model.decode`` at that cap answers; an artifact saved before decode.onnx has the graph traced when loaded."""
    import shutil

    from training.ml.images import load_array

    manifest, result, _ = tiny_run
    predictor = DetectionPredictor.load(result.artifact_path)
    assert (Path(result.artifact_path) / "decode.onnx").is_file() and predictor.meta["decode"] == "decode.onnx"
    old = tmp_path / "old"
    shutil.copytree(result.artifact_path, old)
    (old / "decode.onnx").unlink()
    meta = json.loads((old / "metadata.json").read_text())
    del meta["decode"]
    (old / "metadata.json").write_text(json.dumps(meta))
    before = DetectionPredictor.load(old)
    points = locations(predictor.image_size, tuple(predictor.meta["head"]["strides"]))[0]
    for sample in manifest.samples:
        arr = load_array(manifest.resolve(sample), image_size=predictor.image_size, draft=predictor.draft)
        outputs = tuple(torch.from_numpy(o) for o in predictor._session.run(None, {"image": arr}))
        for cap in (1, 5, 300):
            expected = [t.numpy() for t in decode(outputs, points, predictor.image_size, max_detections=cap)]
            assert len(expected[1]) > (1 if cap > 1 else 0)
            for answer in (predictor.detect(manifest.resolve(sample), max_detections=cap),
                           before.detect(manifest.resolve(sample), max_detections=cap)):
                assert [a.shape for a in answer] == [e.shape for e in expected]
                assert np.array_equal(answer[2], expected[2])
                assert np.abs(answer[0] - expected[0]).max() <= 1e-6 and np.abs(answer[1] - expected[1]).max() <= 1e-6


def _iou(a: Box, b: Box) -> float:
    ix = max(0.0, min(a.left + a.width, b.left + b.width) - max(a.left, b.left))
    iy = max(0.0, min(a.top + a.height, b.top + b.height) - max(a.top, b.top))
    inter = ix * iy
    return inter / (a.width * a.height + b.width * b.height - inter)


def test_same_seed_gives_identical_metrics_and_trunk_and_views_are_computed_once(
    tiny_run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest, first, _ = tiny_run  # no cache_dir: every view computed
    config = TrainConfig(seed=0, image_size=128, cache_dir=str(tmp_path / "cache"))
    again = train_detector(manifest, config, tmp_path / "again", recipe=TINY_RECIPE)
    assert [p.name for p in (tmp_path / "cache" / "trunks").iterdir()] == ["detection-lite0-128-v1.onnx"]
    assert len(list((tmp_path / "cache" / "detection-views").rglob("*.npz"))) == 4 * 6  # 4 images, 6 views each
    # The next training opens the cached trunk and reads every view: exporting or rendering would fail here.
    monkeypatch.setattr(features, "export_torch", lambda *args, **kw: pytest.fail("the trunk was exported again"))
    monkeypatch.setattr(ddata, "full_view", lambda *args: pytest.fail("a view was rendered again"))
    monkeypatch.setattr(ddata, "random_view", lambda *args: pytest.fail("a view was rendered again"))
    third = train_detector(manifest, config, tmp_path / "third", recipe=TINY_RECIPE)
    drop = ("train_seconds",)
    for run in (again, third):
        assert {k: v for k, v in run.metrics.items() if k not in drop} == {
            k: v for k, v in first.metrics.items() if k not in drop
        }


def test_view_cache_computes_only_new_or_relabelled_images(tmp_path: Path) -> None:
    from training.ml.backbones import create_backbone
    from training.ml.images import file_sha256

    manifest = _raccoon_manifest([f"images/raccoon-{i}.jpg" for i in (1, 2, 3)])
    trunk = features.trunk_session("lite0", create_backbone("lite0", image_size=128, pretrained=True), 128, tmp_path)
    runs: list[int] = []

    class Counting:
        def run(self, *args: Any) -> Any:
            runs.append(1)
            return trunk.run(*args)

    def build(samples: tuple[Sample, ...]) -> FeatureStore:
        part = replace(manifest, samples=samples)
        targets = ddata.validate_manifest_boxes(part)
        keys = [features.view_key(file_sha256(part.resolve(s)), t) for s, t in zip(samples, targets, strict=True)]
        runs.clear()
        return features.build_features(
            features.LazyImages(part, 128), targets, keys, Counting(), TINY_RECIPE, 0, lambda *a: None, 2,
            features.ViewCache(tmp_path, "lite0", TINY_RECIPE),
        )

    cold = build(manifest.samples[:2])
    assert len(runs) == 2 * 6
    # Another image joins (it is not cached; the other two are), in front of them: every view is the same.
    grown = build((manifest.samples[2], *manifest.samples[:2]))
    assert len(runs) == 6
    assert torch.equal(grown.feats[1][6:], cold.feats[1]) and torch.equal(grown.ltrb[6:], cold.ltrb)
    # A moved box: that image's views are rendered again, with the new box; the other's are read.
    moved = manifest.samples[1].boxes[0]
    moved = replace(moved, left=moved.left * 0.5)
    relabelled = build((manifest.samples[0], replace(manifest.samples[1], boxes=(moved,))))
    assert len(runs) == 6
    assert torch.equal(relabelled.feats[1][:6], cold.feats[1][:6])
    assert not torch.equal(relabelled.ltrb[6:], cold.ltrb[6:])


def test_view_cache_prunes_the_least_recently_used_views(tmp_path: Path) -> None:
    import os

    view = ([np.zeros((1, 16, 8, 8), np.float16)], torch.zeros(1, 4), torch.zeros(1, dtype=torch.long))
    cache = features.ViewCache(tmp_path, "lite0", TINY_RECIPE, max_bytes=10**9)
    for v in range(10):
        cache.put("ab" * 32, 0, v, view)
        path = cache._path("ab" * 32, 0, v)
        os.utime(path, (1000 + v, 1000 + v))  # written in order, a second apart
    size = cache._path("ab" * 32, 0, 0).stat().st_size
    assert cache.prune() == 0  # under the bound
    assert cache.get("ab" * 32, 0, 2) is not None  # read now: the most recently used
    small = features.ViewCache(tmp_path, "lite0", TINY_RECIPE, max_bytes=5 * size)
    assert small.prune() == 6  # down to 90 % of the bound: 4 files
    kept = sorted(p.name for p in tmp_path.rglob("*.npz"))
    assert kept == [f"{'ab' * 32}-0-{v}.npz" for v in (2, 7, 8, 9)]
    assert small.get("ab" * 32, 0, 0) is None and small.get("ab" * 32, 0, 9) is not None


def test_cancellation_raises_cancelled(tmp_path: Path) -> None:
    manifest = _raccoon_manifest(["images/raccoon-1.jpg", "images/raccoon-2.jpg"])
    with pytest.raises(errors.Cancelled):
        train_detector(manifest, TrainConfig(image_size=128), tmp_path, recipe=TINY_RECIPE, should_cancel=lambda: True)


def test_onnx_export_matches_the_predictor(tiny_run, tmp_path: Path) -> None:
    import onnxruntime as ort

    manifest, result, _ = tiny_run
    images = [str(manifest.resolve(s)) for s in manifest.samples]
    report = export_detector_onnx(result.artifact_path, tmp_path, validation_images=images)
    assert report["ok"], report
    assert report["max_abs_probability_diff"] <= 1e-4 and report["images"] == 4
    meta = json.loads((tmp_path / "metadata.json").read_text())
    assert meta["input"]["name"] == "image" and meta["tags"] == ["raccoon"]
    assert (tmp_path / "labels.txt").read_text() == "raccoon\n"
    assert json.loads((tmp_path / "parity.json").read_text())["ok"]
    sess = ort.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    boxes, scores, labels = sess.run(None, {"image": ddata.load_array(images[0], image_size=128)})
    assert boxes.shape[1] == 4 and len(scores) == len(labels) == len(boxes) > 0


def test_advanced_reported_figures_are_judged_by_a_choice_made_on_the_other_half() -> None:
    """Each half of the validation images is reported with the mode that won on the other half: here advanced wins
    only on the odd images and quick only on the even ones, so each half gets the mode that loses on it, and the
    reported mAP is 0 while either mode alone scores 0.5; choosing on the images themselves would report 1.0."""
    from types import SimpleNamespace

    from training.ml.detection.engine import _Evaluation, _nested

    manifest = _raccoon_manifest([f"images/raccoon-{i}.jpg" for i in (1, 2, 3, 4)])

    def hit(i: int) -> list[dict[str, Any]]:
        b = manifest.samples[i].boxes[0]
        return [{"tag": "raccoon", "probability": 0.9,
                 "box": {"left": b.left, "top": b.top, "width": b.width, "height": b.height}}]

    evaluation = _Evaluation()
    evaluation.predictions["quick"] = {i: hit(i) if i % 2 == 0 else [] for i in range(4)}
    evaluation.predictions["advanced"] = {i: hit(i) if i % 2 == 1 else [] for i in range(4)}
    comparison: dict[str, Any] = {}
    note = _nested(SimpleNamespace(manifest=manifest, tags=["raccoon"]), evaluation, comparison)  # type: ignore[arg-type]
    assert comparison["nested"]["halves"] == ["advanced", "quick"]  # even images: advanced won on the odd ones
    assert evaluation.predictions["nested"] == dict.fromkeys(range(4), [])
    assert comparison["nested"]["map"] == 0.0 and "nested" in note

    evaluation.predictions["quick"] = dict.fromkeys(range(4), [])  # advanced better everywhere: all advanced
    evaluation.predictions["advanced"] = {i: hit(i) for i in range(4)}
    _nested(SimpleNamespace(manifest=manifest, tags=["raccoon"]), evaluation, comparison)  # type: ignore[arg-type]
    assert comparison["nested"]["halves"] == ["advanced", "advanced"] and comparison["nested"]["map"] == 1.0


def test_kfold_advanced_run_predicts_every_image_once(tmp_path: Path) -> None:
    manifest = _raccoon_manifest([f"images/raccoon-{i}.jpg" for i in (1, 2, 3, 4)])
    recipe = Recipe(image_size=128, views_per_image=2, epochs=3, min_steps=0, batch_size=8, channels=16, num_convs=1,
                    bf16=True)  # the quick heads in bf16, fine-tuned on in float32
    config = TrainConfig(seed=1, image_size=128, kfold=2, mode="advanced", budget_seconds=30)
    seen: list[tuple[float, str]] = []
    m = train_detector(manifest, config, tmp_path, recipe=recipe, progress=lambda f, s: seen.append((f, s))).metrics
    assert m["split"]["method"] == "kfold" and m["kfold"]["k"] == 2 and len(m["split"]["folds"]) == 2
    assert sorted(v["id"] for v in m["validation_predictions"]) == sorted(s.id for s in manifest.samples)
    assert m["mode"] == "advanced" and m["mode_delivered"] in ("quick", "advanced")
    assert len(m["finetune"]["steps"]) == 2 and any("Advanced" in n for n in m["notes"])
    assert m["recipe"]["bf16"] is True and any("bfloat16" in n for n in m["notes"])
    better = max(("quick", "advanced"), key=lambda k: (m["comparison"][k]["map"], k == "quick"))
    assert m["comparison"]["images"] == 4 and m["mode_delivered"] == better  # ties go to quick
    nested = m["comparison"]["nested"]  # the reported figures: each half judged by the other half's choice
    assert len(nested["halves"]) == 2 and m["overall"]["ap"] == nested["map"]
    assert m["kfold"]["map_mean"] == pytest.approx(np.mean([compute_metrics(
        "detection", ["raccoon"], [v for v in m["validation_predictions"] if v["id"] in f["val_ids"]])["overall"]["ap"]
        for f in m["split"]["folds"]]))
    phases = list(dict.fromkeys(s.split(": ")[0] for _, s in seen))
    assert phases == [
        "Preparing the backbone",
        "Computing features of 4 images",
        "Fold 1 of 2 (2 train / 2 validation images)",
        "Fold 2 of 2 (2 train / 2 validation images)",
        "Final training on all 4 images",
        "Saving the model",
        "Done",
    ]
    assert "Fold 2 of 2 (2 train / 2 validation images): evaluating the fine-tuned model, image 2 of 2" in {
        s for _, s in seen
    }
    assert [f for f, _ in seen] == sorted(f for f, _ in seen)

    # The steps the budget allowed each fine-tuning are recorded (folds, then the final one when it is delivered);
    # replaying them under a budget that would allow almost nothing trains the same model, to the same metrics.
    assert m["schedule"]["finetune_steps"][:2] == m["finetune"]["steps"]
    replay = TrainConfig(seed=1, image_size=128, kfold=2, mode="advanced", budget_seconds=0.001, schedule=m["schedule"])
    again = train_detector(manifest, replay, tmp_path / "again", recipe=recipe).metrics
    assert {**again, "train_seconds": None} == {**m, "train_seconds": None}
    assert DetectionPredictor.load(tmp_path / "model").predict(manifest.resolve(manifest.samples[0])) is not None


@pytest.mark.parametrize("gain", [-1.0, 2.0])
def test_a_stride_8_recipe_measures_tiles_and_delivers_them_where_they_gain(
        gain: float, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Small-object recipes (the stride-8 level) evaluate the validation images whole and tiled
    (training.ml.detection.tiles); the model tiles, and its figures are the tiled ones, only where tiles gain
    TILES_MIN_GAIN (here forced each way)."""
    from training.ml.detection import engine, tiles
    from training.ml.detection.head import P3_STRIDES

    monkeypatch.setattr(engine, "TILES_MIN_GAIN", gain)
    names = [f"images/raccoon-{i}.jpg" for i in (1, 2, 3, 4)]
    seen: list[tuple[float, str]] = []
    result = train_detector(_raccoon_manifest(names, split={names[-1]: "test"}), TrainConfig(seed=0, image_size=128),
                            tmp_path, recipe=replace(TINY_RECIPE, epochs=3, strides=P3_STRIDES),
                            progress=lambda f, s: seen.append((f, s)))
    m, used = result.metrics, gain < 0
    assert m["tiles"]["used"] is used and m["tiles"]["grid"] == tiles.GRID, m["tiles"]
    assert m["overall"]["ap"] == m["tiles"]["tiled_map" if used else "whole_map"]
    note = "Predictions tile each image" if used else "Tiled prediction was measured and not used"
    assert any(n.startswith(note) for n in m["notes"]), m["notes"]
    assert "Validation split (3 train / 1 validation images): evaluating on tiles, image 1 of 1" in {s for _, s in seen}
    assert [f for f, _ in seen] == sorted(f for f, _ in seen)
    predictor = DetectionPredictor.load(result.artifact_path)
    assert predictor.tiles == (tiles.settings() if used else None)
