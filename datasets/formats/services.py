"""Dataset import (plan, then write all or nothing) and export, over the projects and labeling services.

Import: :func:`import_plan` reads a zip into the neutral dataset and checks it against the project, listing every
problem (one line each) without writing anything; :func:`import_apply` writes a plan without errors through
``projects.services`` (tag_create, image_upload, which checks regions with labeling's one validator) in one
transaction; if anything fails, the rows roll back and the media files already written are deleted.
Image bytes already in the project (same SHA-256, as uploads compare them) are skipped, as an upload reports
``OKDuplicate``; the same bytes twice in the zip are imported once with both entries' tags and boxes.
"""

from __future__ import annotations

import hashlib
import logging
import posixpath
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import IO, Any
from uuid import UUID

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction

from datasets.formats.archive import Archive, Writer
from datasets.formats.dataset import Dataset, FormatError, Item, Problems
from datasets.formats.registry import FORMATS
from labeling import geometry
from labeling.models import Region
from labeling.services import MAX_REGIONS_PER_IMAGE
from projects import errors as project_errors
from projects.models import Image, Project, Tag
from projects.services import image_upload, tag_create
from projects.storage import storage_delete
from training.ml.manifest import Box
from training.models import Iteration

logger = logging.getLogger(__name__)

SPLITS = ("train", "validation")


class DatasetError(Exception):
    """A request that cannot be served (wrong format for the project, unknown tag, no split): one message."""


class ImportFailed(DatasetError):
    """The import stopped and nothing was written."""


@dataclass
class ImportPlan:
    """What an import would create, and every problem found; ``ok`` when there is no error."""

    project: Project
    format: str
    problems: Problems = field(default_factory=Problems)
    items: list[Item] = field(default_factory=list)
    new_tags: list[str] = field(default_factory=list)
    existing_tags: list[str] = field(default_factory=list)
    already_in_project: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems.errors

    @property
    def box_count(self) -> int:
        return sum(len(i.boxes) for i in self.items)

    @property
    def tagged_count(self) -> int:
        return sum(1 for i in self.items if i.tag_names())

    def summary(self) -> list[str]:
        lines = [f"{len(self.items)} image(s) to create: {self.tagged_count} tagged, "
                 f"{len(self.items) - self.tagged_count} untagged"
                 + (f", {self.box_count} box(es)." if self.project.is_detection else ".")]
        if self.new_tags:
            lines.append(f"{len(self.new_tags)} new tag(s): {', '.join(self.new_tags)}.")
        if self.existing_tags:
            lines.append(f"Existing tag(s) used: {', '.join(self.existing_tags)}.")
        if self.already_in_project:
            lines.append(f"{self.already_in_project} image(s) are already in this project and are left as they are.")
        return lines


@dataclass(frozen=True)
class ImportResult:
    images: int
    tags: int
    boxes: int


def _fmt(name: str) -> Any:
    try:
        return FORMATS[name]
    except KeyError:
        raise DatasetError(f"Unknown format {name!r}; use one of {', '.join(FORMATS)}.") from None


def import_plan(*, project: Project, format: str, source: str | IO[bytes]) -> ImportPlan:  # noqa: A002
    """Read the zip ``source`` and check it against ``project``; writes nothing."""
    module = _fmt(format)
    plan = ImportPlan(project=project, format=format)
    problems = plan.problems
    kind = "object detection" if project.is_detection else "classification"
    if module.DETECTION is not None and module.DETECTION != project.is_detection:
        problems.error("", f"{module.LABEL} holds {'boxes' if module.DETECTION else 'image tags'}: import it into "
                           f"{'an object detection' if module.DETECTION else 'a classification'} project "
                           f"(this one is {kind}).")
        return plan
    try:
        dataset = module.read(Archive.read(source), problems)
    except FormatError as exc:
        problems.error("", str(exc))
        return plan
    if dataset.detection != project.is_detection:
        other = "an object detection" if dataset.detection else "a classification"
        problems.error("", f"The file has {'boxes' if dataset.detection else 'image tags only'}; this project is "
                           f"{kind}. Import it into {other} project.")
        return plan
    _check_tags(plan, dataset)
    _merge_duplicates(plan, dataset)
    _check_items(plan)
    return plan


def _check_tags(plan: ImportPlan, dataset: Dataset) -> None:
    """Map the file's tag names onto the project's (ignoring case, as tag names are unique); list the new ones."""
    existing = {t.name.lower(): t for t in Tag.objects.filter(project=plan.project)}
    rename: dict[str, str] = {}
    new: dict[str, str] = {}
    for name in dataset.all_tags():
        clean = name.strip()
        if len(clean) > 200:
            plan.problems.error("", f"tag {clean[:40]!r}… is longer than 200 characters.")
            continue
        tag = existing.get(clean.lower())
        if tag is not None:
            rename[name] = tag.name
            if tag.type == Tag.TagType.NEGATIVE and dataset.detection:
                plan.problems.error("", f"{tag.name!r} is this project's Negative tag; boxes cannot carry it.")
            if tag.name not in plan.existing_tags:
                plan.existing_tags.append(tag.name)
        elif clean.lower() in new:
            plan.problems.warning("", f"tags {new[clean.lower()]!r} and {clean!r} differ only in case; they are "
                                      "one tag.")
            rename[name] = new[clean.lower()]
        else:
            new[clean.lower()] = clean
            rename[name] = clean
    plan.new_tags = list(new.values())
    limit = settings.TAGSIGHT_MAX_TAGS_PER_PROJECT
    if limit > 0 and len(existing) + len(new) > limit:
        plan.problems.error("", f"the import would give the project {len(existing) + len(new)} tags; its limit is "
                                f"{limit}.")
    for item in dataset.items:
        item.tags = list(dict.fromkeys(rename.get(t, t) for t in item.tags))
        item.boxes = [Box(rename.get(b.tag, b.tag), b.left, b.top, b.width, b.height) for b in item.boxes]
    plan.items = dataset.items


def _merge_duplicates(plan: ImportPlan, dataset: Dataset) -> None:
    """Same bytes twice in the zip: one image with both entries' tags and boxes. Already in the project: skipped."""
    by_sha: dict[str, Item] = {}
    kept: list[Item] = []
    for item in plan.items:
        sha = hashlib.sha256(item.data).hexdigest()
        first = by_sha.get(sha)
        if first is None:
            by_sha[sha] = item
            kept.append(item)
            continue
        plan.problems.warning(item.name, f"is the same image as {first.name} (same bytes); it is imported once, "
                                         "with the tags and boxes of both.")
        first.tags = list(dict.fromkeys([*first.tags, *item.tags]))
        first.boxes.extend(item.boxes)
    in_project = set(Image.objects.filter(project=plan.project, sha256__in=list(by_sha)).values_list("sha256",
                                                                                                   flat=True))
    plan.items = []
    for sha, item in by_sha.items():
        if sha in in_project:
            plan.already_in_project += 1
            plan.problems.warning(item.name, "is already in this project (same bytes); it is skipped and keeps its "
                                             "tags and boxes, as an upload of it would.")
        else:
            plan.items.append(item)
    plan.items.sort(key=lambda i: kept.index(i))


def _check_items(plan: ImportPlan) -> None:
    project = plan.project
    negative = set(Tag.objects.filter(project=project, type=Tag.TagType.NEGATIVE).values_list("name", flat=True))
    for item in plan.items:
        unique: list[Box] = []
        for box in item.boxes:
            geo = geometry.Box(box.left, box.top, box.width, box.height)
            if any(b.tag == box.tag and geometry.same_box(geometry.Box(b.left, b.top, b.width, b.height), geo)
                   for b in unique):
                plan.problems.warning(item.name, f"has the same {box.tag!r} box twice; it is imported once.")
                continue
            unique.append(box)
        item.boxes = unique
        if len(item.boxes) > MAX_REGIONS_PER_IMAGE:
            plan.problems.error(item.name, f"has {len(item.boxes)} boxes; an image has at most "
                                           f"{MAX_REGIONS_PER_IMAGE}.")
        if negative and len(item.tags) > 1 and negative & set(item.tags):
            plan.problems.error(item.name, f"has the Negative tag {sorted(negative & set(item.tags))[0]!r} and "
                                           "other tags; a Negative image has no other tag.")
        elif not project.is_detection and not project.is_multilabel and len(item.tags) > 1:
            plan.problems.error(item.name, f"has {len(item.tags)} tags ({', '.join(item.tags)}); a multiclass "
                                           "project takes one tag per image. Import into a multilabel project, or "
                                           "keep one tag.")
    limit = settings.TAGSIGHT_MAX_IMAGES_PER_PROJECT
    have = Image.objects.filter(project=project).count()
    if limit > 0 and have + len(plan.items) > limit:
        plan.problems.error("", f"the project has {have:,} images; {len(plan.items):,} more would pass its limit of "
                                f"{limit:,}.")


def import_apply(*, plan: ImportPlan) -> ImportResult:
    """Write a plan without errors: every tag and image, or nothing (rows rolled back, files deleted)."""
    if not plan.ok:
        raise ImportFailed("The import has errors; nothing was written.")
    project = plan.project
    written: list[str] = []
    try:
        with transaction.atomic():
            tags = {t.name: t for t in Tag.objects.filter(project=project)}
            for name in plan.new_tags:
                tags[name] = tag_create(project=project, name=name)
            for item in plan.items:
                regions = [{"tag": tags[b.tag], "left": b.left, "top": b.top, "width": b.width, "height": b.height}
                           for b in item.boxes]
                result = image_upload(
                    project=project, data=item.data, filename=posixpath.basename(item.name),
                    tags=[tags[t].id for t in item.tags] if not project.is_detection else (), regions=regions,
                )
                if result.status == "OK" and result.image is not None:
                    image = result.image
                    written.extend(n for n in {image.file.name, image.display.name, image.thumbnail.name} if n)
                elif not result.ok:  # OKDuplicate: uploaded by someone else since the preview; left as it is
                    raise ImportFailed(f"{item.name}: {result.message or result.status}. Nothing was imported.")
    except project_errors.ProjectsError as exc:
        storage_delete(written)
        raise ImportFailed(f"{exc.message} Nothing was imported.") from exc
    except BaseException:
        storage_delete(written)
        raise
    return ImportResult(images=len(plan.items), tags=len(plan.new_tags), boxes=plan.box_count)


# ---------------------------------------------------------------------------------------------- export


def _stored_name(original_name: str, stored: str, image_id: Any) -> str:
    ext = posixpath.splitext(stored)[1] or ".jpg"
    stem = posixpath.splitext(posixpath.basename(original_name.replace("\\", "/")))[0].strip() or str(image_id)
    return f"{stem}{ext}"


def _loader(image: Image) -> Callable[[], bytes]:
    """Read an image's stored original when the writer gets to it (an export never holds them all in memory)."""
    name, label = image.file.name, image.original_name or str(image.id)

    def read() -> bytes:
        try:
            with default_storage.open(name, "rb") as handle:
                data: bytes = handle.read()
                return data
        except (FileNotFoundError, OSError) as exc:
            logger.exception("dataset export: stored file %s is missing", name)
            raise DatasetError(f"The stored file of image {label} cannot be read; the export stopped.") from exc

    return read


def export_dataset(
    *, project: Project, tag_ids: Collection[UUID | str] = (), iteration: Iteration | None = None,
    split: str = "",
) -> Dataset:
    """The project's images as a neutral dataset: all, those with any of ``tag_ids`` (their other tags left out),
    or one iteration's ``train``/``validation`` images with the tags and boxes they were trained with."""
    detection = project.is_detection
    tags = {t.id: t for t in Tag.objects.filter(project=project)}
    wanted: set[UUID] = set()
    for t in tag_ids:
        try:
            tag_id = t if isinstance(t, UUID) else UUID(str(t))
        except ValueError:
            raise DatasetError(f"{t!r} is not a tag id.") from None
        if tag_id not in tags:
            raise DatasetError(f"Tag {t} is not in this project.")
        wanted.add(tag_id)
    if iteration is not None:
        return _iteration_dataset(project=project, iteration=iteration, split=split, wanted=wanted)
    dataset = Dataset(detection=detection, tags=[t.name for t in tags.values() if not wanted or t.id in wanted])
    images = Image.objects.filter(project=project).order_by("created", "id").prefetch_related("tags")
    if wanted:
        images = images.filter(tags__in=wanted).distinct()
    regions: dict[UUID, list[Region]] = {}
    if detection:
        for r in Region.objects.filter(image__project=project).order_by("created", "id"):
            regions.setdefault(r.image_id, []).append(r)
    for image in images:
        item = Item(name=_stored_name(image.original_name, image.file.name, image.id), data=b"",
                    loader=_loader(image), width=image.width, height=image.height)
        if detection:
            item.boxes = [Box(tags[r.tag_id].name, r.left, r.top, r.width, r.height)
                          for r in regions.get(image.id, []) if not wanted or r.tag_id in wanted]
        else:
            item.tags = sorted(t.name for t in image.tags.all() if not wanted or t.id in wanted)
        dataset.items.append(item)
    return dataset


def _iteration_dataset(*, project: Project, iteration: Iteration, split: str, wanted: set[UUID]) -> Dataset:
    if iteration.project_id != project.id:
        raise DatasetError("The iteration is not one of this project's.")
    if split not in SPLITS:
        raise DatasetError(f"Choose the iteration's split: {' or '.join(SPLITS)}.")
    recorded = (iteration.metrics or {}).get("split") or {}
    snapshot = iteration.snapshot or {}
    if not recorded or not snapshot.get("images"):
        raise DatasetError(f"{iteration.name} has no recorded training/validation split (it has not finished "
                           "training).")
    val_ids = {str(i) for i in recorded.get("val_ids") or ()}
    train_ids = {str(i) for i in recorded.get("train_ids") or ()}
    # k-fold: every image was validated in one fold and trained on in the others, so both splits hold them all.
    chosen = val_ids if split == "validation" else (train_ids or {i["id"] for i in snapshot["images"]})
    names = {t["id"]: t["name"] for t in snapshot.get("tags", [])}
    keep = {str(t) for t in wanted}
    dataset = Dataset(detection=project.is_detection,
                      tags=[n for i, n in names.items() if not keep or i in keep])
    current = {str(i.id): i for i in Image.objects.filter(project=project, id__in=[i["id"] for i in snapshot["images"]
                                                                                     if i["id"] in chosen])}
    for entry in snapshot["images"]:
        image = current.get(entry["id"])
        if entry["id"] not in chosen or image is None:
            continue  # deleted since the iteration trained
        item = Item(name=_stored_name(image.original_name, image.file.name, image.id), data=b"",
                    loader=_loader(image), width=entry.get("width") or image.width,
                    height=entry.get("height") or image.height)
        if project.is_detection:
            item.boxes = [Box(names[r["tag"]], r["left"], r["top"], r["width"], r["height"])
                          for r in entry.get("regions", []) if not keep or r["tag"] in keep]
        else:
            item.tags = sorted(names[t] for t in entry.get("tags", []) if not keep or t in keep)
        dataset.items.append(item)
    return dataset


def export_write(*, dataset: Dataset, format: str, out: IO[bytes]) -> None:  # noqa: A002
    """Write ``dataset`` as a zip in ``format`` to ``out``."""
    module = _fmt(format)
    if module.DETECTION is not None and module.DETECTION != dataset.detection:
        raise DatasetError(f"{module.LABEL} is for {'object detection' if module.DETECTION else 'classification'} "
                           "projects; choose another format.")
    writer = Writer(out)
    module.write(dataset, writer)
    writer.close()


# ---------------------------------------------------------------------------------------------- background imports

JOB_TTL = 24 * 3600


def _job_key(job: str) -> str:
    return f"datasets:formats:import:{job}"


def import_job_state(*, job: str) -> dict[str, Any] | None:
    """{"state": queued|running|done|failed, "message", "project", "name"} of a background import, or None."""
    from django.core.cache import caches

    state: dict[str, Any] | None = caches["shared"].get(_job_key(job))
    return state


def _job_set(job: str, **state: Any) -> None:
    from django.core.cache import caches

    caches["shared"].set(_job_key(job), state, JOB_TTL)


def import_job_queued(*, job: str, project: Project, name: str) -> None:
    """Record a confirmed import handed to the worker (the caller queues datasets.formats.tasks.dataset_import)."""
    _job_set(job, state="queued", message="", project=str(project.id), name=name)


def import_job_run(*, job: str, project_id: str, format: str, path: str, name: str) -> None:  # noqa: A002
    """The worker's side: plan the stored zip again, write it all or nothing, record the outcome, drop the zip."""
    base = {"project": project_id, "name": name}
    _job_set(job, state="running", message="", **base)
    try:
        project = Project.objects.get(pk=project_id)
        with default_storage.open(path, "rb") as handle:
            plan = import_plan(project=project, format=format, source=handle)
        if not plan.ok:
            raise ImportFailed("; ".join(str(p) for p in plan.problems.errors[:5]) + " Nothing was imported.")
        result = import_apply(plan=plan)
    except (Project.DoesNotExist, FileNotFoundError):
        _job_set(job, state="failed", message="The project or the uploaded zip is gone; nothing was imported.",
                 **base)
    except DatasetError as exc:
        _job_set(job, state="failed", message=str(exc), **base)
    except Exception:
        logger.exception("dataset import %s failed", job)
        _job_set(job, state="failed", message="The import failed unexpectedly; nothing was imported.", **base)
    else:
        _job_set(job, state="done", message=f"Imported {result.images} image(s), {result.boxes} box(es) and "
                                             f"{result.tags} new tag(s) from {name}.", **base)
    finally:
        default_storage.delete(path)
