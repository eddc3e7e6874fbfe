"""Write-side operations on regions and image tags: every input validated here, nothing written on failure.

Called by the HTML labeler, the Azure Training API's regions endpoints and (through projects.regions, wired in
apps.py) image uploads with regions, so all are keyword-only and raise ``labeling.errors.LabelingError``
subclasses carrying Azure's error codes. One check for every box: ``_checked_box`` (labeling.geometry).
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from labeling import geometry
from labeling.errors import InvalidRegion, NotFoundImage, NotFoundTag, RegionLimitExceeded
from labeling.models import Region
from projects.models import Image, Project, Tag
from projects.services import images_tag_set, images_untag
from workspaces import audit

logger = logging.getLogger(__name__)

MAX_REGIONS_PER_IMAGE = 300  # Azure's limit (detection)


@dataclass(frozen=True)
class RegionEntry:
    """One region of a batch, as Azure's ImageRegionCreateEntry (ids, not objects)."""

    image_id: uuid.UUID
    tag_id: uuid.UUID
    left: float
    top: float
    width: float
    height: float

    @property
    def box(self) -> geometry.Box:
        return geometry.Box(self.left, self.top, self.width, self.height)


def _checked_box(left: float, top: float, width: float, height: float) -> geometry.Box:
    problem = geometry.box_problem(left, top, width, height)
    if problem:
        raise InvalidRegion(problem)
    return geometry.normalise(left, top, width, height)


def _check_tag(*, tag: Tag, project_id: uuid.UUID) -> None:
    if tag.project_id != project_id:
        raise NotFoundTag(f"Tag {tag.id} not found in this project.")
    if tag.type == Tag.TagType.NEGATIVE:
        raise InvalidRegion("The Negative tag marks whole images; it can't be put on a region.")


def _tags_gained(*, image: Image, tag_ids: Iterable[uuid.UUID]) -> None:
    """Azure: a region's tag is also one of its image's tags; a boxed image is no longer Negative."""
    image.tags.add(*set(tag_ids))  # type: ignore[arg-type]  # django-stubs types pks as int; Tag's is a UUID
    negative = image.tags.filter(type=Tag.TagType.NEGATIVE)
    if negative.exists():
        image.tags.remove(*negative)


def _tag_maybe_lost(*, image_id: uuid.UUID, tag_id: uuid.UUID) -> None:
    """Drop the image's tag once its last region with that tag is gone."""
    if not Region.objects.filter(image_id=image_id, tag_id=tag_id).exists():
        Image.tags.through.objects.filter(image_id=image_id, tag_id=tag_id).delete()


def _record(*, project: Project, count: int = 1) -> None:
    """Box edits are counted per session of work (workspaces.audit), in the edit's transaction."""
    audit.record(workspace_id=project.workspace_id, action="region", project=project, count=count)


def region_create(
    *,
    image: Image,
    tag: Tag,
    left: float,
    top: float,
    width: float,
    height: float,
    region_id: uuid.UUID | None = None,
) -> Region:
    """Add a box to an image. ``region_id`` (chosen by the client) makes a retried save idempotent."""
    _check_tag(tag=tag, project_id=image.project_id)
    box = _checked_box(left, top, width, height)
    with transaction.atomic():
        if region_id is not None:
            existing = Region.objects.filter(id=region_id).first()
            if existing is not None:
                same = existing.image_id == image.id and existing.tag_id == tag.id
                if same and geometry.same_box(_box_of(existing), box):
                    return existing  # the same save, retried after a lost response
                raise InvalidRegion(f"Region {region_id} already exists.")
        if Region.objects.filter(image=image).count() >= MAX_REGIONS_PER_IMAGE:
            raise RegionLimitExceeded(f"An image can have at most {MAX_REGIONS_PER_IMAGE} regions.")
        region = Region.objects.create(
            id=region_id or uuid.uuid4(),
            image=image,
            tag=tag,
            left=box.left,
            top=box.top,
            width=box.width,
            height=box.height,
        )
        _tags_gained(image=image, tag_ids=[tag.id])
        _record(project=image.project)
    logger.info("region %s created on image %s", region.id, image.id)
    return region


def region_update(
    *,
    region: Region,
    tag: Tag | None = None,
    left: float | None = None,
    top: float | None = None,
    width: float | None = None,
    height: float | None = None,
) -> Region:
    """Move, resize and/or retag a region; fields left as None keep their value."""
    image = region.image
    if tag is not None:
        _check_tag(tag=tag, project_id=image.project_id)
    box = _checked_box(
        region.left if left is None else left,
        region.top if top is None else top,
        region.width if width is None else width,
        region.height if height is None else height,
    )
    old_tag_id = region.tag_id
    with transaction.atomic():
        region.left, region.top, region.width, region.height = box.left, box.top, box.width, box.height
        if tag is not None:
            region.tag = tag
        region.save(update_fields=["left", "top", "width", "height", "tag"])
        if region.tag_id != old_tag_id:
            _tags_gained(image=image, tag_ids=[region.tag_id])
            _tag_maybe_lost(image_id=image.id, tag_id=old_tag_id)
        _record(project=image.project)
    return region


def region_delete(*, region: Region) -> None:
    with transaction.atomic():
        image_id, tag_id = region.image_id, region.tag_id
        region.delete()
        _tag_maybe_lost(image_id=image_id, tag_id=tag_id)
        _record(project=region.image.project)
    logger.info("region deleted from image %s", image_id)


def regions_create(
    *, project: Project, entries: Sequence[RegionEntry]
) -> tuple[list[Region], list[RegionEntry], list[RegionEntry]]:
    """Azure's create_image_regions: all-or-nothing validation, then (created, duplicated, exceeded)."""
    image_ids = {e.image_id for e in entries}
    tag_ids = {e.tag_id for e in entries}
    images = set(Image.objects.filter(project=project, id__in=image_ids).values_list("id", flat=True))
    tags = {t.id: t for t in Tag.objects.filter(project=project, id__in=tag_ids)}
    for entry in entries:
        if entry.image_id not in images:
            raise NotFoundImage(f"Image {entry.image_id} not found in this project.")
        tag = tags.get(entry.tag_id)
        if tag is None:
            raise NotFoundTag(f"Tag {entry.tag_id} not found in this project.")
        _check_tag(tag=tag, project_id=project.id)
        _checked_box(entry.left, entry.top, entry.width, entry.height)

    created: list[Region] = []
    duplicated: list[RegionEntry] = []
    exceeded: list[RegionEntry] = []
    with transaction.atomic():
        existing = list(Region.objects.filter(image_id__in=images))
        seen: dict[tuple[uuid.UUID, uuid.UUID], list[geometry.Box]] = {}
        for r in existing:
            seen.setdefault((r.image_id, r.tag_id), []).append(_box_of(r))
        counts = Counter(r.image_id for r in existing)
        for entry in entries:
            box = _checked_box(entry.left, entry.top, entry.width, entry.height)
            same_key = seen.setdefault((entry.image_id, entry.tag_id), [])
            if any(geometry.same_box(box, b) for b in same_key):
                duplicated.append(entry)
                continue
            if counts[entry.image_id] >= MAX_REGIONS_PER_IMAGE:
                exceeded.append(entry)
                continue
            counts[entry.image_id] += 1
            same_key.append(box)
            created.append(
                Region(
                    image_id=entry.image_id,
                    tag=tags[entry.tag_id],
                    left=box.left,
                    top=box.top,
                    width=box.width,
                    height=box.height,
                )
            )
        Region.objects.bulk_create(created)
        by_image: dict[uuid.UUID, set[uuid.UUID]] = {}
        for region in created:
            by_image.setdefault(region.image_id, set()).add(region.tag_id)
        for image in Image.objects.filter(id__in=by_image):
            _tags_gained(image=image, tag_ids=by_image[image.id])
        if created:
            _record(project=project, count=len(created))
    return created, duplicated, exceeded


@dataclass(frozen=True)
class UploadRegion:
    """A checked region of an image being uploaded: its tag and its box, clipped into the image."""

    tag_id: uuid.UUID
    box: geometry.Box


def upload_regions_check(*, project: Project, regions: Sequence[Mapping[str, Any]]) -> list[UploadRegion]:
    """The regions sent with an upload ({"tag": Tag or id, "left", "top", "width", "height"}), checked by the rules
    of every region: a tag of this project that is not Negative, a box inside the image, at most 300; all or none.
    """
    if len(regions) > MAX_REGIONS_PER_IMAGE:
        raise RegionLimitExceeded(f"An image can have at most {MAX_REGIONS_PER_IMAGE} regions.")
    parsed: list[tuple[uuid.UUID, list[float]]] = []
    for raw in regions:
        try:
            tag = raw["tag"]
            tag_id = tag.id if isinstance(tag, Tag) else uuid.UUID(str(tag))
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            raise NotFoundTag("A region's tag id is malformed.") from exc
        try:
            coords = [float(raw[k]) for k in ("left", "top", "width", "height")]
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidRegion("A region needs numeric left, top, width and height.") from exc
        parsed.append((tag_id, coords))
    tags = {t.id: t for t in Tag.objects.filter(project=project, id__in={tag_id for tag_id, _ in parsed})}
    checked = []
    for tag_id, coords in parsed:
        if tag_id not in tags:
            raise NotFoundTag(f"Tag {tag_id} not found in this project.")
        _check_tag(tag=tags[tag_id], project_id=project.id)
        checked.append(UploadRegion(tag_id, _checked_box(*coords)))
    return checked


def upload_regions_write(*, image: Image, regions: Sequence[UploadRegion]) -> None:
    """Store an uploaded image's checked regions (inside the upload's transaction); their tags become its tags."""
    Region.objects.bulk_create(
        Region(image=image, tag_id=r.tag_id, left=r.box.left, top=r.box.top, width=r.box.width, height=r.box.height)
        for r in regions
    )
    _tags_gained(image=image, tag_ids=[r.tag_id for r in regions])


def regions_untag(*, image_ids: Iterable[uuid.UUID], tag_ids: Iterable[uuid.UUID]) -> None:
    """The images lost these tags (projects.services.images_untag): their regions with those tags go too."""
    Region.objects.filter(image_id__in=list(image_ids), tag_id__in=list(tag_ids)).delete()


def _box_of(region: Region) -> geometry.Box:
    return geometry.Box(region.left, region.top, region.width, region.height)


def image_tag_set(*, image: Image, tag: Tag, on: bool) -> list[Tag]:
    """The fast tagger's button: put ``tag`` on (or off) a classification image, keeping Azure's rules.

    Multiclass: picking a tag replaces the others. Negative excludes every regular tag and vice versa.
    Setting a state (not toggling) makes a retried save harmless. Returns the image's tags afterwards.
    """
    if tag.project_id != image.project_id:
        raise NotFoundTag(f"Tag {tag.id} not found in this project.")
    project = image.project
    with transaction.atomic():
        if on:
            images_tag_set(project=project, image_ids=[image.id], tag_id=tag.id)
        else:
            images_untag(project=project, image_ids=[image.id], tag_ids=[tag.id])
    return list(image.tags.all())
