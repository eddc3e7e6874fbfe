"""Data Health services: queue a check, run it on a worker (embeddings -> checks -> stored findings), and the
page's one-click fixes (keep one of a duplicate cluster, fix a likely mislabel)."""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from health.checks import balance, boxes, duplicates, mislabels
from health.datahealth_models import DataHealthFinding, DataHealthRun
from labeling.models import Region
from projects.models import Image, Project, Tag
from projects.services import images_delete, images_tag_set
from training.models import Iteration
from training.services import images_fetch

logger = logging.getLogger(__name__)

Kind = DataHealthFinding.Kind
Status = DataHealthRun.Status
MAX_FINDINGS_PER_KIND = 500  # a page worth of each; the summary keeps the true counts
# A check gives way to a training queued in this window and not yet started (see _training_waiting); one queued
# longer ago whose worker never came does not hold checks back for ever.
YIELD_WINDOW_SECONDS = 600
YIELD_RETRY_SECONDS = 5  # when a check that gave way is tried again
WAITING_STAGE = "Waiting for a training to start"


class _GiveWay(Exception):
    """A training is waiting for the worker this check runs on (raised between steps of a check)."""


class DataHealthError(Exception):
    """A one-click fix that cannot be applied (the finding or its images changed since the check)."""


def datahealth_queue(
    *, project: Project, requested_by: Any = None, iteration: Iteration | None = None
) -> DataHealthRun:
    """Queue a check of the project (one at a time: a queued or running check is returned as it is)."""
    from health.datahealth_tasks import check_data_health as check_data_health_task

    active = DataHealthRun.objects.filter(project=project, status__in=[Status.QUEUED, Status.RUNNING]).first()
    if active:
        return active
    user = requested_by if getattr(requested_by, "is_authenticated", False) else None
    run = DataHealthRun.objects.create(project=project, requested_by=user, iteration=iteration)
    transaction.on_commit(lambda: check_data_health_task.delay(run.id))
    return run


def on_training_event(event: str, *, iteration_id: str, **refs: Any) -> None:
    """training.events listener: check the data again after every completed training."""
    from training.events import TRAINING_COMPLETED

    if event != TRAINING_COMPLETED:
        return
    iteration = Iteration.objects.select_related("project").filter(id=iteration_id).first()
    if iteration is not None:
        datahealth_queue(project=iteration.project, iteration=iteration)


def _progress(run: DataHealthRun, fraction: float, stage: str) -> None:
    DataHealthRun.objects.filter(id=run.id).update(progress=fraction, stage=stage[:200])


def _training_waiting() -> bool:
    """Whether a training was queued in the last YIELD_WINDOW_SECONDS and has not started. Checks and trainings
    share the workers' "training" queue, one task at a time each: a check running there would make the training
    wait for it, so the check gives way (a check is background work; the user is waiting for the training)."""
    from celery import current_app

    if current_app.conf.task_always_eager:  # the task would run again at once, in this call: nothing to give way to
        return False
    since = timezone.now() - timedelta(seconds=YIELD_WINDOW_SECONDS)
    return Iteration.objects.filter(status=Iteration.Status.TRAINING, started__isnull=True, created__gte=since).exists()


def _give_way(run_id: int) -> None:
    """Put a check back in the queue behind the waiting training: Queued again, sent again in a few seconds."""
    from health.datahealth_tasks import check_data_health as check_data_health_task

    DataHealthRun.objects.filter(id=run_id).update(status=Status.QUEUED, started=None, progress=0.0,
                                                   stage=WAITING_STAGE)
    check_data_health_task.apply_async(args=[run_id], countdown=YIELD_RETRY_SECONDS)
    logger.info("data health run %s gives way to a queued training; again in %d s", run_id, YIELD_RETRY_SECONDS)


def datahealth_run(*, run_id: int) -> None:
    """Run one queued check (the Celery task). Never raises: a failure ends as Failed with the message. A check
    gives way to a training waiting for the worker, before it starts and between images (:func:`_give_way`)."""
    if DataHealthRun.objects.filter(id=run_id, status=Status.QUEUED).exists() and _training_waiting():
        _give_way(run_id)
        return
    claimed = DataHealthRun.objects.filter(id=run_id, status=Status.QUEUED).update(
        status=Status.RUNNING, started=timezone.now(), stage="Starting"
    )
    if not claimed:
        logger.info("data health run %s is not queued any more; skipping", run_id)
        return
    run = DataHealthRun.objects.select_related("project").get(id=run_id)
    started = time.monotonic()
    try:
        summary, findings = _check(run)
    except _GiveWay:
        _give_way(run_id)
        return
    except Exception as exc:  # noqa: BLE001 - every failure must end as a readable Failed
        logger.exception("data health run %s failed", run_id)
        DataHealthRun.objects.filter(id=run_id).update(
            status=Status.FAILED, error=f"{type(exc).__name__}: {exc}"[:4000], stage="Failed",
            finished=timezone.now(),
        )
        return
    summary["seconds"] = round(time.monotonic() - started, 1)
    with transaction.atomic():
        DataHealthFinding.objects.bulk_create(findings, batch_size=500)
        DataHealthRun.objects.filter(id=run_id).update(
            status=Status.COMPLETED, summary=summary, progress=1.0, stage="Completed", finished=timezone.now(),
            iteration=run.iteration,
        )
        # Only the newest result is kept: older runs (and their findings) go.
        DataHealthRun.objects.filter(project=run.project, status__in=[Status.COMPLETED, Status.FAILED]).exclude(
            id=run_id).delete()
    logger.info("data health run %s: %s in %.1fs", run_id, summary.get("counts"), summary["seconds"])


def _embedder(backbone: str) -> Any:
    from training.ml.embeddings import Embedder  # onnxruntime loads here, on the worker only

    return Embedder(backbone, None, Path(settings.DATA_DIR) / "cache" / "embeddings")


def _check(run: DataHealthRun) -> tuple[dict[str, Any], list[DataHealthFinding]]:
    from health.checks import features

    project = run.project
    iteration = (
        Iteration.objects.filter(project=project, status=Iteration.Status.COMPLETED).order_by("-created").first()
    )
    run.iteration = iteration
    rows: list[dict[str, Any]] = [
        {"id": str(i), "sha256": sha, "file": name, "width": w, "height": h}
        for i, sha, name, w, h in Image.objects.filter(project=project).order_by("created", "id").values_list(
            "id", "sha256", "file", "width", "height")
    ]
    ids: list[str] = [r["id"] for r in rows]
    tags = {str(t.id): t for t in Tag.objects.filter(project=project)}
    image_tags: dict[str, list[str]] = {i: [] for i in ids}
    for image_id, tag_id in Image.tags.through.objects.filter(image__project=project).values_list(
            "image_id", "tag_id"):
        image_tags[str(image_id)].append(str(tag_id))
    _progress(run, 0.02, f"Reading {len(rows)} images")
    local = images_fetch(images=rows)
    paths = [local[i] for i in ids]
    embedder = _embedder(iteration.backbone if iteration and iteration.backbone else "lite0")

    def embedding_progress(done: int, total: int) -> None:
        if done % 16 == 0 or done == total:
            _progress(run, 0.05 + 0.6 * done / max(total, 1), f"Embedding images {done}/{total}")
            if done < total and _training_waiting():  # the embeddings so far are cached: nothing is lost
                raise _GiveWay

    emb = features.image_embeddings(paths, [r["sha256"] for r in rows], embedder=embedder,
                                    progress=embedding_progress) if rows else np.zeros((0, 1, 1), np.float32)
    _progress(run, 0.7, "Looking for near-duplicates")
    hashes = features.image_hashes(paths)
    findings: list[DataHealthFinding] = []
    pairs = duplicates.near_duplicate_pairs(emb[:, 0], hashes) if len(rows) > 1 else []
    findings += _duplicate_findings(run, ids, pairs)
    leaks = _leakage_findings(run, ids, pairs, iteration)
    findings += leaks
    _progress(run, 0.8, "Looking for likely mislabels")
    if project.is_detection:
        findings += _detection_findings(run, ids, rows, paths, tags, iteration, embedder)
    elif not project.is_multilabel:
        findings += _mislabel_findings(run, ids, image_tags, tags, emb)
    summary = _balance_summary(project, ids, image_tags, tags)
    counts = Counter(f.kind for f in findings)
    findings = [f for kind in counts for f in sorted((f for f in findings if f.kind == kind),
                                                       key=lambda f: -f.score)[:MAX_FINDINGS_PER_KIND]]
    summary.update({
        "counts": dict(counts),
        "images": len(rows),
        "leakage": len(leaks),
        "iteration_id": str(iteration.id) if iteration else None,
        "iteration_name": iteration.name if iteration else None,
    })
    return summary, findings


def _duplicate_findings(
    run: DataHealthRun, ids: Sequence[str], pairs: Sequence[tuple[int, int, float]]
) -> list[DataHealthFinding]:
    out = []
    for group in duplicates.clusters(len(ids), pairs):
        members = set(group)
        sims = [c for a, b, c in pairs if a in members and b in members]
        out.append(DataHealthFinding(run=run, kind=Kind.DUPLICATE, score=len(group) + max(sims),
                                     image_ids=[ids[i] for i in group],
                                     data={"similarity": round(max(sims), 4)}))
    return out


def split_folds(*, iteration: Iteration | None, image_ids: Sequence[str]) -> list[int | None]:
    """Where each image was evaluated in the iteration: its k-fold fold, 0 = validation / -1 = training
    (hold-out), None = not in the iteration."""
    split = ((iteration.metrics or {}).get("split") if iteration else None) or {}
    fold: dict[str, int] = {}
    if split.get("folds"):
        for k, entry in enumerate(split["folds"]):
            fold.update({i: k for i in entry["val_ids"]})
    else:
        fold.update({i: -1 for i in split.get("train_ids", [])})
        fold.update({i: 0 for i in split.get("val_ids", [])})
    return [fold.get(i) for i in image_ids]


def _leakage_findings(
    run: DataHealthRun, ids: Sequence[str], pairs: Sequence[tuple[int, int, float]], iteration: Iteration | None
) -> list[DataHealthFinding]:
    folds = split_folds(iteration=iteration, image_ids=ids)
    return [
        DataHealthFinding(run=run, kind=Kind.LEAKAGE, score=c, image_ids=[ids[a], ids[b]],
                          data={"similarity": round(c, 4), "iteration_id": str(iteration.id) if iteration else ""})
        for a, b, c in duplicates.leaking_pairs(pairs, folds)
    ]


def _suspect_finding(
    run: DataHealthRun, kind: str, rank: int, image_id: str, names: Sequence[tuple[str, str]],
    suspect: mislabels.Suspect, **extra: Any
) -> DataHealthFinding:
    (given_id, given_name), (suggested_id, suggested_name) = names[suspect.given], names[suspect.suggested]
    return DataHealthFinding(
        run=run, kind=kind, score=-float(rank), image_ids=[image_id],
        data={"given_tag": given_id, "given_name": given_name, "suggested_tag": suggested_id,
              "suggested_name": suggested_name, "given_probability": round(suspect.given_probability, 4),
              "suggested_probability": round(suspect.suggested_probability, 4), **extra},
    )


def _mislabel_findings(
    run: DataHealthRun, ids: Sequence[str], image_tags: dict[str, list[str]], tags: dict[str, Tag], emb: np.ndarray
) -> list[DataHealthFinding]:
    """Single-tag classification images: confident learning on out-of-fold probabilities."""
    single = [k for k, i in enumerate(ids) if len(image_tags[i]) == 1]
    names = sorted({image_tags[ids[k]][0] for k in single}, key=lambda t: tags[t].name.lower())
    if len(names) < 2:
        return []
    y = np.asarray([names.index(image_tags[ids[k]][0]) for k in single])
    if np.bincount(y).min() < 2:
        return []
    probs = mislabels.out_of_fold_probabilities(emb[single], y, len(names))
    pairs = [(t, tags[t].name) for t in names]
    return [_suspect_finding(run, Kind.MISLABEL, rank, ids[single[s.index]], pairs, s)
            for rank, s in enumerate(mislabels.label_suspects(y, probs))]


def _detection_findings(
    run: DataHealthRun, ids: Sequence[str], rows: Sequence[dict[str, Any]], paths: Sequence[Path],
    tags: dict[str, Tag], iteration: Iteration | None, embedder: Any,
) -> list[DataHealthFinding]:
    """Box checks: shape (whole image, tiny, drawn twice), tag vs. crop model, and the detector's own view."""
    from health.checks import features

    index = {i: k for k, i in enumerate(ids)}
    regions = list(Region.objects.filter(image__project=run.project).order_by("image_id", "created", "id"))
    entries = [(str(r.image_id), str(r.tag_id), (r.left, r.top, r.width, r.height)) for r in regions]
    out = []

    def box_data(r: Region, **extra: Any) -> dict[str, Any]:
        return {"region_id": str(r.id), "tag": str(r.tag_id), "tag_name": tags[str(r.tag_id)].name,
                "box": [r.left, r.top, r.width, r.height], **extra}

    kinds = {"whole_image": Kind.BOX_WHOLE, "tiny": Kind.BOX_TINY, "double": Kind.BOX_DOUBLE}
    for issue in boxes.shape_issues(entries):
        r = regions[issue.index]
        out.append(DataHealthFinding(run=run, kind=kinds[issue.kind], score=0.0, image_ids=[str(r.image_id)],
                                     data=box_data(r)))
    used = sorted({e[1] for e in entries}, key=lambda t: tags[t].name.lower())
    flagged: set[str] = set()
    if len(used) >= 2:
        y = np.asarray([used.index(e[1]) for e in entries])
        if np.bincount(y).min() >= 2:
            items = [(paths[index[e[0]]], rows[index[e[0]]]["sha256"], e[2]) for e in entries]
            emb = features.box_embeddings(items, embedder=embedder)
            probs = mislabels.out_of_fold_probabilities(emb, y, len(used))
            names = [(t, tags[t].name) for t in used]
            for rank, s in enumerate(mislabels.label_suspects(y, probs)):
                r = regions[s.index]
                flagged.add(str(r.id))
                out.append(_suspect_finding(run, Kind.BOX_TAG, rank, str(r.image_id), names, s,
                                            region_id=str(r.id), box=[r.left, r.top, r.width, r.height]))
    out += _detector_findings(run, regions, tags, iteration, flagged)
    return out


def _detector_findings(
    run: DataHealthRun, regions: Sequence[Region], tags: dict[str, Tag], iteration: Iteration | None,
    flagged: set[str],
) -> list[DataHealthFinding]:
    """The iteration's validation predictions (images it did not train on): boxes nobody drew, tags it disputes."""
    rows = ((iteration.metrics or {}).get("validation_predictions") if iteration else None) or []
    by_name = {t.name: t for t in tags.values()}
    by_image: dict[str, list[Region]] = {}
    for r in regions:
        by_image.setdefault(str(r.image_id), []).append(r)
    out = []
    for row in rows:
        drawn = by_image.get(str(row["id"]), [])
        predicted = [(p["tag"], float(p["probability"]), _box(p["box"])) for p in row.get("predictions", [])
                     if p.get("box")]
        for issue in boxes.model_issues([(tags[str(r.tag_id)].name, (r.left, r.top, r.width, r.height))
                                         for r in drawn], predicted):
            if issue.kind == "missing" and issue.box is not None:
                out.append(DataHealthFinding(
                    run=run, kind=Kind.BOX_MISSING, score=issue.probability, image_ids=[str(row["id"])],
                    data={"tag_name": issue.tag, "probability": round(issue.probability, 4),
                          "box": list(issue.box)}))
            elif issue.kind == "tag_disagrees" and str(drawn[issue.index].id) not in flagged:
                r = drawn[issue.index]
                suggested = by_name.get(issue.tag)
                out.append(DataHealthFinding(
                    run=run, kind=Kind.BOX_TAG, score=issue.probability - 1.0, image_ids=[str(r.image_id)],
                    data={"given_tag": str(r.tag_id), "given_name": tags[str(r.tag_id)].name,
                          "suggested_tag": str(suggested.id) if suggested else "", "suggested_name": issue.tag,
                          "suggested_probability": round(issue.probability, 4), "region_id": str(r.id),
                          "box": [r.left, r.top, r.width, r.height], "source": "detector"}))
    return out


def _box(b: dict[str, float]) -> boxes.Box:
    return (float(b["left"]), float(b["top"]), float(b["width"]), float(b["height"]))


def _balance_summary(
    project: Project, ids: Sequence[str], image_tags: dict[str, list[str]], tags: dict[str, Tag]
) -> dict[str, Any]:
    if project.is_detection:
        counts = Counter(str(t) for t in Region.objects.filter(image__project=project).values_list(
            "tag_id", flat=True))
        labelled = set(str(i) for i in Region.objects.filter(image__project=project).values_list(
            "image_id", flat=True))
        minimum = settings.TAGSIGHT_MIN_BOXES_PER_TAG
    else:
        counts = Counter(t for i in ids for t in image_tags[i])
        labelled = {i for i in ids if image_tags[i]}
        minimum = settings.TAGSIGHT_MIN_IMAGES_PER_TAG
    rows = balance.tag_balance({tags[t].name: counts.get(t, 0) for t in tags}, minimum=minimum)
    return {
        "balance": [{"tag": r.tag, "count": r.count, "share": round(r.share, 4), "below_minimum": r.below_minimum,
                     "below_advised": r.below_advised} for r in rows],
        "minimum": minimum, "advised": balance.ADVISED,
        "untagged": len([i for i in ids if i not in labelled]),
        "unit": "boxes" if project.is_detection else "images",
    }


# ----------------------------------------------------------------------------------------------- one-click fixes


def _open_finding(*, project: Project, finding_id: Any, kinds: Sequence[str]) -> DataHealthFinding:
    try:
        pk = int(finding_id)
    except (TypeError, ValueError) as exc:
        raise DataHealthError("No such finding.") from exc
    finding = DataHealthFinding.objects.filter(id=pk, run__project=project, kind__in=kinds, resolved=False).first()
    if finding is None:
        raise DataHealthError("This finding is gone: the data was checked again or it was already fixed.")
    return finding


def duplicate_keep_one(*, project: Project, finding_id: Any, keep: Any) -> int:
    """Keep one image of a near-duplicate cluster and delete the others. Returns the number deleted."""
    finding = _open_finding(project=project, finding_id=finding_id, kinds=[Kind.DUPLICATE])
    if str(keep) not in finding.image_ids:
        raise DataHealthError("Choose one of the cluster's images to keep.")
    others = [i for i in finding.image_ids if i != str(keep)]
    with transaction.atomic():
        deleted = images_delete(project=project, image_ids=[uuid.UUID(i) for i in others])
        _resolve_images(run_id=finding.run_id, image_ids=others)
        DataHealthFinding.objects.filter(id=finding.id).update(resolved=True)
    return deleted


def _resolve_images(*, run_id: int, image_ids: Sequence[str]) -> None:
    """Findings about images that no longer exist are resolved (they would link nowhere)."""
    gone = set(image_ids)
    for f in DataHealthFinding.objects.filter(run_id=run_id, resolved=False):
        if gone.intersection(f.image_ids) and (f.kind != Kind.DUPLICATE or len(set(f.image_ids) - gone) < 2):
            DataHealthFinding.objects.filter(id=f.id).update(resolved=True)


def mislabel_fix(*, project: Project, finding_id: Any) -> DataHealthFinding:
    """Give the image (or the box) the suggested tag."""
    from labeling.services import region_update

    finding = _open_finding(project=project, finding_id=finding_id, kinds=[Kind.MISLABEL, Kind.BOX_TAG])
    suggested_id = str(finding.data.get("suggested_tag") or uuid.UUID(int=0))
    suggested = Tag.objects.filter(project=project, id=suggested_id).first()
    if suggested is None:
        raise DataHealthError("The suggested tag no longer exists.")
    with transaction.atomic():
        if finding.kind == Kind.BOX_TAG:
            region = Region.objects.filter(id=finding.data["region_id"], image__project=project).first()
            if region is None:
                raise DataHealthError("The box was deleted since the check.")
            region_update(region=region, tag=suggested)
        else:
            images_tag_set(project=project, image_ids=finding.image_ids, tag_id=suggested.id)
        DataHealthFinding.objects.filter(id=finding.id).update(resolved=True)
    return finding
