"""Read-side queries for training: workers, iterations, performance at a threshold, dataset diffs."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone

from projects.models import Image, Project
from training import plots
from training.models import Iteration, WorkerHeartbeat

WORKER_ALIVE_SECONDS = 30
# services._Progress puts the engine's own fraction on 5..95 % of the bar (fetching before, saving
# after). The engine makes its fraction proportional to time, so the time left is computed from it.
ENGINE_PROGRESS = (0.05, 0.95)


def worker_list_alive(*, within_seconds: int = WORKER_ALIVE_SECONDS) -> list[str]:
    """Hostnames of workers whose heartbeat is recent."""
    since = timezone.now() - timedelta(seconds=within_seconds)
    return list(WorkerHeartbeat.objects.filter(last_seen__gte=since).values_list("hostname", flat=True))


def iteration_list(*, project: Project) -> QuerySet[Iteration]:
    """A project's iterations, newest first (the snapshot and metrics are left out: they can be large)."""
    return Iteration.objects.filter(project=project).defer("snapshot", "metrics").order_by("-number")


def iteration_get_for(*, user: Any, iteration_id: uuid.UUID | str) -> Iteration:
    """An iteration of one of the user's projects; Http404 for anything else."""
    try:
        return Iteration.objects.select_related("project").get(id=iteration_id, project__owner=user)
    except (Iteration.DoesNotExist, ValueError, TypeError):
        raise Http404("No such iteration.") from None


def iteration_in_progress(*, project: Project) -> Iteration | None:
    return Iteration.objects.filter(project=project, status=Iteration.Status.TRAINING).defer("snapshot").first()


def iteration_timing(*, iteration: Iteration) -> dict[str, float | None]:
    """Seconds elapsed since the worker started, and an estimate of what is left (from progress).

    The engine's fraction f follows time over the whole run, so what is left is elapsed * (1 - f) / f;
    taken from the bar's 5..95 % instead, it would run short at first and then grow.
    """
    if iteration.started is None:
        return {"elapsed": None, "remaining": None}
    end = iteration.finished or timezone.now()
    elapsed = max(0.0, (end - iteration.started).total_seconds())
    remaining = None
    lo, hi = ENGINE_PROGRESS
    engine = (iteration.progress - lo) / (hi - lo)
    if iteration.is_training and 0.05 <= engine < 1.0:
        remaining = elapsed * (1 - engine) / engine
    return {"elapsed": elapsed, "remaining": remaining}


def iteration_previous(*, iteration: Iteration) -> Iteration | None:
    """The iteration trained just before this one (any outcome), to diff datasets against."""
    return (
        Iteration.objects.filter(project_id=iteration.project_id, number__lt=iteration.number)
        .order_by("-number")
        .first()
    )


def iteration_diff(*, iteration: Iteration) -> dict[str, Any] | None:
    """What changed in the training data since the previous iteration: images added, removed, retagged."""
    previous = iteration_previous(iteration=iteration)
    if previous is None:
        return None
    before, after = _labels(previous.snapshot), _labels(iteration.snapshot)
    added = len(after.keys() - before.keys())
    removed = len(before.keys() - after.keys())
    retagged = sum(1 for k in after.keys() & before.keys() if after[k] != before[k])
    return {"previous": previous, "added": added, "removed": removed, "retagged": retagged,
            "same": not (added or removed or retagged)}


def _labels(snapshot: dict[str, Any]) -> dict[str, Any]:
    names = {t["id"]: t["name"] for t in snapshot.get("tags", ())}
    return {
        i["sha256"]: (
            tuple(sorted(names.get(t, t) for t in i["tags"])),
            tuple(sorted((names.get(r["tag"], r["tag"]), round(r["left"], 4), round(r["top"], 4),
                          round(r["width"], 4), round(r["height"], 4)) for r in i["regions"])),
        )
        for i in snapshot.get("images", ())
    }


def _validation(iteration: Iteration) -> tuple[str, list[str], list[dict[str, Any]]]:
    metrics = iteration.metrics or {}
    task = metrics.get("task") or ("detection" if iteration.is_detection else "classification")
    return task, list(metrics.get("tags", ())), list(metrics.get("validation_predictions", ()))


def iteration_performance(
    *, iteration: Iteration, threshold: float = 0.5, iou_threshold: float = 0.5
) -> dict[str, Any] | None:
    """Overall and per-tag precision/recall/AP, confusion and PR curves, recomputed at the thresholds."""
    if not iteration.metrics:
        return None
    from training.ml.metrics import compute_metrics

    task, tags, vps = _validation(iteration)
    multilabel = iteration.classification_type == "Multilabel"
    if vps:
        perf = compute_metrics(task, tags, vps, threshold=threshold, iou_threshold=iou_threshold,
                               **({} if task == "detection" else {"multilabel": multilabel}))
    else:  # an engine result without raw predictions: show what it stored
        perf = {k: iteration.metrics.get(k) for k in ("overall", "per_tag", "confusion")}
    curves = {t: plots.pr_curve(task, t, vps, threshold=threshold, iou_threshold=iou_threshold) for t in tags}
    for row in perf.get("per_tag") or ():
        row["curve"] = curves.get(row["tag"])
    return {
        "task": task,
        "multilabel": multilabel,
        "threshold": threshold,
        "iou_threshold": iou_threshold,
        "overall": perf.get("overall") or {},
        "per_tag": perf.get("per_tag") or [],
        "confusion": perf.get("confusion") or {},
        "validation_count": len(vps),
    }


def iteration_errors(
    *, iteration: Iteration, threshold: float = 0.5, iou_threshold: float = 0.5
) -> list[dict[str, Any]]:
    """The error gallery: each wrong validation image with what was true and what was predicted."""
    task, _, vps = _validation(iteration)
    if task == "detection":
        items = plots.detection_errors(vps, threshold=threshold, iou_threshold=iou_threshold)
    else:
        items = plots.classification_errors(
            vps, threshold=threshold, multilabel=iteration.classification_type == "Multilabel"
        )
    return _with_images(iteration, items)


def iteration_cell_images(*, iteration: Iteration, cell: str, threshold: float = 0.5) -> list[dict[str, Any]]:
    """The validation images behind one confusion-matrix cell ("<true>|<predicted>", or "<tag>|tp|fp|fn")."""
    perf = iteration_performance(iteration=iteration, threshold=threshold)
    ids = set((perf or {}).get("confusion", {}).get("cells", {}).get(cell, ()))
    _, _, vps = _validation(iteration)
    items = [
        {"id": str(vp["id"]), "true": sorted(vp.get("tags", ())),
         "top": [(p["tag"], float(p["probability"])) for p in
                 sorted(vp.get("predictions", ()), key=lambda p: -float(p["probability"]))[:3]]}
        for vp in vps if str(vp["id"]) in ids
    ]
    return _with_images(iteration, items)


def _with_images(iteration: Iteration, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Attach the project's current Image (None if deleted since) and its tags to each item."""
    ids = []
    for item in items:
        try:
            ids.append(uuid.UUID(item["id"]))
        except ValueError:
            continue
    images = {str(i.id): i for i in Image.objects.filter(project_id=iteration.project_id, id__in=ids)
              .prefetch_related("tags")}
    for item in items:
        item["image"] = images.get(item["id"])
        item["current_tags"] = sorted(t.name for t in item["image"].tags.all()) if item["image"] else []
    return items


def iteration_method(*, iteration: Iteration) -> dict[str, Any]:
    """How the numbers were made, from the stored metrics: split, seed, k-fold, time, backbone."""
    m = iteration.metrics or {}
    split = m.get("split") or {}
    return {
        "method": split.get("method", ""),
        "seed": split.get("seed"),
        "k": split.get("k") or (m.get("kfold") or {}).get("k"),
        "train_count": len(split.get("train_ids", ()) or ()),
        "val_count": len(split.get("val_ids", ()) or ()) or len(m.get("validation_predictions", ()) or ()),
        "kfold": m.get("kfold"),
        "train_seconds": m.get("train_seconds"),
        "backbone": m.get("backbone") or iteration.backbone,
        "image_size": m.get("image_size"),
        "mode": m.get("mode_delivered") or m.get("mode"),
        "notes": m.get("notes") or [],
    }
