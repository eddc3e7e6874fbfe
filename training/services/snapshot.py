"""What an iteration trains on, frozen at queue time: the snapshot, its fingerprint and Azure's pre-training checks."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import Counter
from collections.abc import Collection
from typing import Any

from django.conf import settings

from labeling.models import Region
from projects.models import Image, Project, Tag
from training import errors


def snapshot_take(*, project: Project, tag_ids: Collection[uuid.UUID | str] | None = None) -> dict[str, Any]:
    """What an iteration trains on, frozen: tags (id, name, type) and every labelled image.

    ``tag_ids`` (Azure's selectedTags; None or empty = all): train on those tags only; other tags are dropped
    from each image (and their boxes), and an image left with nothing is left out.
    """
    tags = list(Tag.objects.filter(project=project).order_by("name"))
    if tag_ids:
        wanted = {str(t) for t in tag_ids}
        unknown = wanted - {str(t.id) for t in tags}
        if unknown:
            raise errors.UnknownSelectedTags(
                f"selectedTags names tags not in this project: {', '.join(sorted(unknown))}."
            )
        tags = [t for t in tags if str(t.id) in wanted]
    kept_tags = {str(t.id) for t in tags}
    images: dict[uuid.UUID, dict[str, Any]] = {}
    rows = Image.objects.filter(project=project).values_list("id", "sha256", "file", "width", "height")
    for image_id, sha, name, width, height in rows:
        images[image_id] = {"id": str(image_id), "sha256": sha, "file": name, "width": width, "height": height,
                            "tags": [], "regions": []}
    for image_id, tag_id in Image.tags.through.objects.filter(image__project=project).values_list("image_id", "tag_id"):
        if str(tag_id) in kept_tags:
            images[image_id]["tags"].append(str(tag_id))
    if project.is_detection:
        for r in Region.objects.filter(image__project=project).order_by("image_id", "created", "id"):
            if str(r.tag_id) not in kept_tags:
                continue
            images[r.image_id]["regions"].append(
                {"tag": str(r.tag_id), "left": r.left, "top": r.top, "width": r.width, "height": r.height}
            )
    kept = []
    for item in images.values():
        item["tags"].sort()
        if (item["regions"] if project.is_detection else item["tags"]):
            kept.append(item)
    kept.sort(key=lambda i: i["id"])
    return {
        "tags": [{"id": str(t.id), "name": t.name, "type": t.type} for t in tags],
        "images": kept,
    }


def snapshot_fingerprint(*, snapshot: dict[str, Any], project: Project, training_type: str) -> str:
    """Same data, tag names, domain and type → same fingerprint → "nothing new to train"."""
    names = {t["id"]: t["name"] for t in snapshot["tags"]}
    content = {
        "images": [
            [i["sha256"], sorted(names[t] for t in i["tags"]),
             sorted((names[r["tag"]], round(r["left"], 5), round(r["top"], 5), round(r["width"], 5),
                     round(r["height"], 5)) for r in i["regions"])]
            for i in snapshot["images"]
        ],
        "domain": str(project.domain_id),
        "type": [project.project_type, project.classification_type, training_type],
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def snapshot_validate(*, project: Project, snapshot: dict[str, Any]) -> None:
    """Azure's pre-training checks, with the minimums from settings."""
    tag_by_id = {t["id"]: t for t in snapshot["tags"]}
    negative = {t["id"] for t in snapshot["tags"] if t["type"] == Tag.TagType.NEGATIVE}
    if project.is_detection:
        need = settings.TAGSIGHT_MIN_BOXES_PER_TAG
        boxes = Counter(r["tag"] for i in snapshot["images"] for r in i["regions"])
        if not boxes:
            raise errors.DetectionTrainingValidationFailed(
                f"Nothing to train on: draw at least {need} boxes for a tag first."
            )
        short = sorted(tag_by_id[t]["name"] for t, n in boxes.items() if n < need)
        if short:
            detail = ", ".join(f"{name!r} has {boxes[_id(tag_by_id, name)]}" for name in short)
            raise errors.DetectionTrainingValidationFailed(
                f"Each tag needs at least {need} boxes to train a detector: {detail}."
            )
        return
    need = settings.TAGSIGHT_MIN_IMAGES_PER_TAG
    counts = Counter(t for i in snapshot["images"] for t in i["tags"])
    used = [t for t in tag_by_id if counts[t] > 0]
    short = sorted(tag_by_id[t]["name"] for t in used if counts[t] < need)
    if short:
        detail = ", ".join(f"{name!r} has {counts[_id(tag_by_id, name)]}" for name in short)
        raise errors.ClassificationTrainingValidationFailed(
            f"Each tag needs at least {need} images: {detail}. Add images or remove the tag from them."
        )
    regular = [t for t in used if t not in negative]
    if len(regular) < 2 and not (len(regular) == 1 and any(t in negative for t in used)):
        raise errors.ClassificationTrainingValidationFailed(
            f"Classification needs at least 2 tags with {need} or more images each "
            f"(or one tag plus the Negative tag); this project has {len(regular)}."
        )
    if not project.is_multilabel:
        several = sum(1 for i in snapshot["images"] if len(i["tags"]) > 1)
        if several:
            raise errors.MultiClassTrainingValidationFailed(
                f"{several} image(s) have more than one tag; a multiclass project needs exactly one tag per "
                "image (or the Negative tag). Fix them or switch the project to multilabel."
            )
    else:
        mixed = sum(1 for i in snapshot["images"] if len(i["tags"]) > 1 and any(t in negative for t in i["tags"]))
        if mixed:
            raise errors.MultiClassTrainingValidationFailed(
                f"{mixed} image(s) carry the Negative tag together with a regular tag.",
                code="BadRequestNegativeAndRegularTagOnSameImage",
            )


def _id(tag_by_id: dict[str, dict[str, Any]], name: str) -> str:
    return next(t for t, info in tag_by_id.items() if info["name"] == name)
