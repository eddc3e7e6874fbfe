"""Read-side queries for training: workers, iterations, performance at a threshold, dataset diffs."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.core.cache import caches
from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone

from projects.iteration_data import IterationData, TrainedImage, TrainedTag
from projects.models import Image, Project, Tag
from training import plots
from training.models import Iteration, WorkerHeartbeat
from training.services.reaper import iterations_reap_lost
from workspaces.access import workspace_ids_of

WORKER_ALIVE_SECONDS = 30
# services._Progress puts the engine's own fraction on 5..95 % of the bar (fetching before, saving
# after). The engine makes its fraction proportional to time, so the time left is computed from it.
ENGINE_PROGRESS = (0.05, 0.95)
# What the iteration page derives from a finished iteration's JSON (its snapshot and metrics never change once
# it is done) is kept in the shared cache: decoding and recomputing them grows with the project (10,000 images:
# ~0.5 s a view), reading them back does not.
DERIVED_CACHE_SECONDS = 7 * 24 * 3600


def worker_list_alive(*, within_seconds: int = WORKER_ALIVE_SECONDS) -> list[str]:
    """Hostnames of workers whose heartbeat is recent."""
    since = timezone.now() - timedelta(seconds=within_seconds)
    return list(WorkerHeartbeat.objects.filter(last_seen__gte=since).values_list("hostname", flat=True))


def iteration_data(*, project: Project, iteration_id: uuid.UUID) -> IterationData | None:
    """The iteration's tags and images as trained (its snapshot), for the projects API's ``iterationId`` reads.

    Tags keep their trained name and type, with the number of trained images carrying them; their description
    is today's (the snapshot has none). None when the project has no such iteration.
    """
    snapshot = (
        Iteration.objects.filter(project=project, id=iteration_id).values_list("snapshot", flat=True).first()
    )
    if snapshot is None:
        return None
    raw_images = snapshot.get("images", ()) if isinstance(snapshot, dict) else ()
    raw_tags = snapshot.get("tags", ()) if isinstance(snapshot, dict) else ()
    images = {
        uuid.UUID(i["id"]): TrainedImage(
            id=uuid.UUID(i["id"]),
            tag_ids=tuple(uuid.UUID(t) for t in i.get("tags", ())),
            regions=tuple(
                {"tag": uuid.UUID(r["tag"]), **{k: r[k] for k in ("left", "top", "width", "height")}}
                for r in i.get("regions", ())
            ),
        )
        for i in raw_images
    }
    counts = Counter(t for image in images.values() for t in image.tag_ids)
    ids = [uuid.UUID(t["id"]) for t in raw_tags]
    descriptions = dict(Tag.objects.filter(project=project, id__in=ids).values_list("id", "description"))
    tags = sorted(
        (
            TrainedTag(id=tag_id, name=t["name"], type=t["type"], description=descriptions.get(tag_id) or "",
                       image_count=counts[tag_id])
            for tag_id, t in zip(ids, raw_tags, strict=True)
        ),
        key=lambda t: (t.name.lower(), str(t.id)),
    )
    return IterationData(tags=tuple(tags), images=images)


# Every read of iterations (pages, the Azure API, the Train check) goes through these selectors, and they
# first fail running iterations whose worker is gone: with no worker left alive to reap, and no portal page
# open, an API client polling get_iteration must still see Failed. Cheap: one query when nothing is running.


def iteration_list(*, project: Project) -> QuerySet[Iteration]:
    """A project's iterations, newest first, lost workers reaped (the snapshot and metrics are left out)."""
    iterations_reap_lost(project=project)
    return Iteration.objects.filter(project=project).defer("snapshot", "metrics").order_by("-number")


def iteration_current(*, iteration: Iteration) -> Iteration:
    """The iteration as it stands once a lost worker is noticed (reaped and re-read if its worker is gone)."""
    if iteration.is_running and iterations_reap_lost(project=iteration.project):
        iteration.refresh_from_db()
    return iteration


def iteration_published_get(*, user: Any, project_id: uuid.UUID, publish_name: str) -> Iteration | None:
    """The iteration published as ``publish_name`` in one of the principal's projects, with its project, in one
    query (the prediction endpoint's lookup); None if there is none. The large JSON columns (every image as
    trained, the validation predictions) are not read, and nothing is ordered (a publish name is unique in its
    project; compiling the model's ordering cost a fifth of this lookup)."""
    found = list(
        Iteration.objects.select_related("project").defer("snapshot", "metrics")
        .filter(project_id=project_id, project__workspace_id__in=workspace_ids_of(user), publish_name=publish_name)
        .order_by()[:1]
    )
    return found[0] if found else None


def iteration_get_for(*, user: Any, iteration_id: uuid.UUID | str) -> Iteration:
    """An iteration of one of the principal's projects, lost worker reaped; Http404 for anything else.

    Its two large JSON columns (snapshot, metrics) are read only when used."""
    try:
        iteration = Iteration.objects.select_related("project").defer("snapshot", "metrics").get(
            id=iteration_id, project__workspace_id__in=workspace_ids_of(user)
        )
    except (Iteration.DoesNotExist, ValueError, TypeError):
        raise Http404("No such iteration.") from None
    return iteration_current(iteration=iteration)


def iteration_in_progress(*, project: Project) -> Iteration | None:
    """The project's queued or running iteration, if any (one whose worker is gone is reaped first)."""
    iterations_reap_lost(project=project)
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
    """The iteration trained just before this one (any outcome), to diff datasets against (its JSON left out)."""
    return (
        Iteration.objects.filter(project_id=iteration.project_id, number__lt=iteration.number)
        .defer("snapshot", "metrics")
        .order_by("-number")
        .first()
    )


def iteration_diff(*, iteration: Iteration) -> dict[str, Any] | None:
    """What changed in the training data since the previous iteration: images added, removed, retagged.

    Both snapshots are fixed when an iteration is queued, so the counts are computed once per pair and cached.
    """
    previous = iteration_previous(iteration=iteration)
    if previous is None:
        return None
    key = f"iteration-diff:v1:{iteration.id}:{previous.id}"
    counts: dict[str, int] | None = caches["shared"].get(key)
    if counts is None:
        snapshots = dict(Iteration.objects.filter(id__in=[iteration.id, previous.id]).values_list("id", "snapshot"))
        before, after = _labels(snapshots.get(previous.id) or {}), _labels(snapshots.get(iteration.id) or {})
        counts = {"added": len(after.keys() - before.keys()), "removed": len(before.keys() - after.keys()),
                  "retagged": sum(1 for k in after.keys() & before.keys() if after[k] != before[k])}
        caches["shared"].set(key, counts, DERIVED_CACHE_SECONDS)
    return {"previous": previous, **counts, "same": not any(counts.values())}


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
    """Overall and per-tag precision/recall/AP, confusion and PR curves, recomputed at the thresholds.

    A finished iteration's figures at given thresholds are computed once and then read from the shared cache.
    """
    perf: dict[str, Any] | None = _derived(
        iteration, f"perf:v1:{iteration.classification_type}:{float(threshold)!r}:{float(iou_threshold)!r}",
        lambda: _performance(iteration=iteration, threshold=threshold, iou_threshold=iou_threshold))
    return perf


def _derived(iteration: Iteration, what: str, compute: Callable[[], Any]) -> Any:
    """``compute()``, read from the shared cache once the iteration is done (keyed by iteration, finish time and
    ``what``); a None result is not cached."""
    if not iteration.is_done:
        return compute()
    finished = iteration.finished.timestamp() if iteration.finished else ""
    key = f"iteration-{what}:{iteration.id}:{finished}"
    value = caches["shared"].get(key)
    if value is None:
        value = compute()
        if value is not None:
            caches["shared"].set(key, value, DERIVED_CACHE_SECONDS)
    return value


def _performance(*, iteration: Iteration, threshold: float, iou_threshold: float) -> dict[str, Any] | None:
    if not iteration.metrics:
        return None
    from training.ml.metrics import compute_metrics

    task, tags, vps = _validation(iteration)
    multilabel = iteration.classification_type == "Multilabel"
    if vps:
        perf = compute_metrics(task, tags, vps, threshold=threshold, iou_threshold=iou_threshold,
                               multilabel=None if task == "detection" else multilabel)
    else:  # an engine result without raw predictions: show what it stored
        perf = {k: iteration.metrics.get(k) for k in ("overall", "per_tag", "confusion")}
    curves = {t: plots.pr_curve(task, t, vps, threshold=threshold, iou_threshold=iou_threshold) for t in tags}
    spread = _fold_spread(iteration, task, tags, vps, threshold=threshold, iou_threshold=iou_threshold,
                          multilabel=multilabel)
    overall = dict(perf.get("overall") or {})
    overall.update(spread.get("") or {})
    thresholds = (iteration.metrics.get("thresholds") or {}) if multilabel else {}  # training.ml.thresholds
    for row in perf.get("per_tag") or ():
        row["curve"] = curves.get(row["tag"])
        row.update(spread.get(row["tag"]) or {})
        row["threshold"] = (thresholds.get("per_tag") or {}).get(row["tag"])
    between = (perf.get("confusion") or {}).get("tags")
    if between:  # a detector's tag x tag box matrix: its last row and column stand for "no box" ("")
        between["axis"] = [*between["labels"], ""]
    return {
        "task": task,
        "multilabel": multilabel,
        "threshold": threshold,
        "iou_threshold": iou_threshold,
        "overall": overall,
        "per_tag": perf.get("per_tag") or [],
        "confusion": perf.get("confusion") or {},
        "validation_count": len(vps),
        "thresholds": thresholds,
    }


def _fold_spread(
    iteration: Iteration, task: str, tags: list[str], vps: list[dict[str, Any]], *, threshold: float,
    iou_threshold: float, multilabel: bool,
) -> dict[str, dict[str, float]]:
    """Standard deviation of precision and recall over the folds of a k-fold evaluation, at the thresholds.

    The engine stores each fold's validation ids (``split.folds``) and the out-of-fold predictions, so each
    fold's numbers are recomputed like the overall ones. Keyed by tag name, ``""`` for overall; empty when
    the iteration was not evaluated by k-fold (hold-out, or an advanced model scored on one fold). A tag counts
    in the folds where it has validation examples.
    """
    import numpy as np

    from training.ml.metrics import compute_metrics

    split = (iteration.metrics or {}).get("split") or {}
    folds = split.get("folds") or []
    if split.get("method") != "kfold" or len(folds) < 2:
        return {}
    by_id = {str(vp["id"]): vp for vp in vps}
    per_fold = []
    for fold in folds:
        ids = [str(i) for i in fold.get("val_ids") or ()]
        if not ids or any(i not in by_id for i in ids):
            return {}  # the stored predictions are not the out-of-fold ones
        per_fold.append(compute_metrics(task, tags, [by_id[i] for i in ids], threshold=threshold,
                                        iou_threshold=iou_threshold,
                                        multilabel=None if task == "detection" else multilabel))

    def std(rows: list[dict[str, Any]]) -> dict[str, float]:
        return {f"{k}_std": float(np.std([r[k] for r in rows])) if len(rows) > 1 else 0.0
                for k in ("precision", "recall")}

    out = {"": std([m["overall"] for m in per_fold])}
    for tag in tags:
        out[tag] = std([r for m in per_fold for r in m["per_tag"] if r["tag"] == tag and r.get("image_count")])
    return out


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


def iteration_cell_images(
    *, iteration: Iteration, cell: str, threshold: float = 0.5, iou_threshold: float = 0.5
) -> list[dict[str, Any]]:
    """The validation images behind one confusion-matrix cell ("<true>|<predicted>", or "<tag>|tp|fp|fn"), at the
    thresholds the page showed it with (a detector's cells depend on the IoU too)."""
    perf = iteration_performance(iteration=iteration, threshold=threshold, iou_threshold=iou_threshold)
    confusion = (perf or {}).get("confusion", {})
    cells = {**(confusion.get("tags") or {}).get("cells", {}), **confusion.get("cells", {})}
    ids = set(cells.get(cell, ()))
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
    """How the numbers were made, from the stored metrics and snapshot: split, seed, k-fold, time, backbone, tags.

    Cached once the iteration is done (see ``DERIVED_CACHE_SECONDS``)."""
    method: dict[str, Any] = _derived(iteration, "method:v6", lambda: _method(iteration))
    return method


def _method(iteration: Iteration) -> dict[str, Any]:
    m = iteration.metrics or {}
    split = m.get("split") or {}
    snapshot = Iteration.objects.filter(id=iteration.id).values_list("snapshot", flat=True).first() or {}
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
        "pooling": m.get("pooling"),  # classification: "gem" / "gem-unclipped" where the embedding is GeM-pooled
        "weight_decay": m.get("weight_decay"),  # classification: the linear head's L2 penalty
        "weight_decay_search": m.get("weight_decay_search"),  # how it was chosen; None: fixed (a large project)
        "mode": m.get("mode_delivered") or m.get("mode"),
        "notes": m.get("notes") or [],
        "comparison": m.get("comparison"),  # advanced runs: quick vs advanced on the same validation images
        "modes": [("quick", "Quick"), ("advanced", "Advanced")],
        "tag_count": len(snapshot.get("tags", ()) if isinstance(snapshot, dict) else ()),  # frozen at queue time
        "views": m.get("views") or [],  # classification: the views embedded per image (classification.training_views)
        "int8": m.get("int8"),  # compact classification: the int8 model's report and whether predictions run it
    }
