"""Image services: the all-or-nothing upload, and bulk tag / untag / delete."""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import DatabaseError, IntegrityError, transaction

from projects import errors
from projects.images import ImageRejected, Renditions, render
from projects.models import Image, Project, Tag
from projects.regions import CheckedRegion, region_hooks
from projects.services.base import as_uuid
from projects.storage import storage_delete
from workspaces import audit

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class UploadResult:
    """One file's outcome; ``status`` is Azure's ImageCreateStatus."""

    status: str
    image: Image | None = None
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status in ("OK", "OKDuplicate")


class _InvalidUpload(Exception):
    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


# A refused region's Azure error code -> the upload's ImageCreateStatus (anything else: ErrorUnknown).
_REGION_STATUS = {"NotFoundTag": "ErrorInvalidTag", "ErrorRegionLimitExceed": "ErrorRegionLimitExceed"}


def _resolve_tags(*, project: Project, tags: Iterable[Any]) -> dict[UUID, Tag]:
    try:
        wanted = {as_uuid(t) for t in tags}
    except (ValueError, TypeError, AttributeError) as exc:
        raise _InvalidUpload("ErrorInvalidTag", "A tag id is malformed.") from exc
    if not wanted:
        return {}
    found = {t.id: t for t in Tag.objects.filter(project=project, id__in=wanted)}
    if len(found) != len(wanted):
        raise _InvalidUpload("ErrorInvalidTag", "A tag does not belong to this project.")
    return found


def _checked_regions(*, project: Project, regions: Sequence[Mapping[str, Any]]) -> Sequence[CheckedRegion]:
    """labeling's check of every region (the one the labeler and the regions API use), through projects.regions."""
    if not regions:
        return ()
    try:
        return region_hooks().check(project=project, regions=regions)
    except errors.ProjectsError as exc:
        raise _InvalidUpload(_REGION_STATUS.get(exc.code, "ErrorUnknown"), exc.message) from exc


def _store_files(*, project: Project, image_id: UUID, out: Renditions, data: bytes) -> tuple[str, str, str, list[str]]:
    """Write the renditions; on any storage error delete what was written and re-raise."""
    folder = f"projects/{project.id}/images/{image_id}"
    written: list[str] = []
    try:
        original = default_storage.save(f"{folder}/original.{out.extension}", ContentFile(out.original or data))
        written.append(original)
        display = original
        if out.display is not None:
            display = default_storage.save(f"{folder}/display.jpg", ContentFile(out.display))
            written.append(display)
        thumbnail = default_storage.save(f"{folder}/thumbnail.jpg", ContentFile(out.thumbnail))
        written.append(thumbnail)
    except Exception:
        storage_delete(written)
        raise
    return original, display, thumbnail, written


def image_upload(
    *,
    project: Project,
    data: bytes,
    filename: str = "",
    tags: Iterable[Any] = (),
    regions: Sequence[Mapping[str, Any]] = (),
    metadata: Mapping[str, str] | None = None,
) -> UploadResult:
    """Verify, orient and store one image with its thumbnail and display renditions; never half-written.

    ``metadata``: Azure's pairs (checked by :func:`metadata_clean`; InvalidMetadata when they break its limits).

    Files are written first, then the row (with tags and regions) in one transaction; if the database
    fails the files are deleted again, and if storage fails nothing is written. Same bytes twice in a
    project: ``OKDuplicate`` with the image already there (its tags are left as they are, as Azure does).
    A project at TAGSIGHT_MAX_IMAGES_PER_PROJECT: ``ErrorLimitExceed`` (counted with the project row locked).
    """
    clean_metadata = metadata_clean(metadata or {}, new_image=True)
    try:
        tag_map = _resolve_tags(project=project, tags=tags)
        checked_regions = _checked_regions(project=project, regions=regions)
    except _InvalidUpload as exc:
        return UploadResult(exc.status, None, exc.message)
    types = {t.type for t in tag_map.values()}
    if Tag.TagType.NEGATIVE in types and (len(types) > 1 or checked_regions):  # a region's tag is never Negative
        return UploadResult("ErrorNegativeAndRegularTagOnSameImage", None, "A Negative tag cannot go with other tags.")

    sha256 = hashlib.sha256(data).hexdigest()
    existing = Image.objects.filter(project=project, sha256=sha256).first() if data else None
    if existing is not None:
        return UploadResult("OKDuplicate", existing, "The same image is already in this project.")
    if _image_limit_reached(project=project):  # early, so a full project costs no rendering or storage
        return _limit_result()
    try:
        out = render(
            data,
            max_side=settings.TAGSIGHT_MAX_IMAGE_SIDE,
            thumbnail_size=settings.TAGSIGHT_THUMBNAIL_SIZE,
            display_size=settings.TAGSIGHT_DISPLAY_SIZE,
            max_bytes=settings.TAGSIGHT_MAX_IMAGE_BYTES,
        )
    except ImageRejected as exc:
        return UploadResult(exc.status, None, exc.message)

    image_id = uuid.uuid4()
    try:
        original, display, thumbnail, written = _store_files(project=project, image_id=image_id, out=out, data=data)
    except Exception:
        logger.exception("storage failed for an upload to project %s", project.id)
        return UploadResult("ErrorStorage", None, "The image could not be stored; nothing was saved.")

    try:
        with transaction.atomic():
            Project.objects.select_for_update().filter(pk=project.pk).first()  # serialise the count below
            if _image_limit_reached(project=project):
                raise _LimitReached
            image = Image.objects.create(
                id=image_id,
                project=project,
                file=original,
                display=display,
                thumbnail=thumbnail,
                original_name=(filename or "")[:255],
                content_type=out.content_type,
                width=out.width,
                height=out.height,
                sha256=sha256,
                metadata=clean_metadata,
            )
            if tag_map:
                Image.tags.through.objects.bulk_create(
                    [Image.tags.through(image_id=image_id, tag_id=t) for t in tag_map]
                )
            if checked_regions:  # labeling writes them, and makes their tags image tags too (as in Azure)
                region_hooks().write(image=image, regions=checked_regions)
            # One entry per upload request: each image adds one to it, in the image's own transaction.
            audit.record(workspace_id=project.workspace_id, action="image.upload", project=project)
    except _LimitReached:  # a concurrent upload took the last place after the early check
        storage_delete(written)
        return _limit_result()
    except IntegrityError:
        storage_delete(written)
        duplicate = Image.objects.filter(project=project, sha256=sha256).first()
        if duplicate is not None:  # a concurrent upload of the same bytes won
            return UploadResult("OKDuplicate", duplicate, "The same image is already in this project.")
        logger.exception("database refused an upload to project %s", project.id)
        return UploadResult("ErrorUnknown", None, "The database refused the image; nothing was saved.")
    except DatabaseError:
        storage_delete(written)
        logger.exception("database failed for an upload to project %s", project.id)
        return UploadResult("ErrorUnknown", None, "The database failed; nothing was saved.")
    return UploadResult("OK", image, "")


class _LimitReached(Exception):
    pass


def _image_limit_reached(*, project: Project) -> bool:
    limit = settings.TAGSIGHT_MAX_IMAGES_PER_PROJECT
    return limit > 0 and Image.objects.filter(project=project).count() >= limit


def _limit_result() -> UploadResult:
    """TAGSIGHT_MAX_IMAGES_PER_PROJECT reached: Azure's per-image ErrorLimitExceed, saying what to do."""
    limit = settings.TAGSIGHT_MAX_IMAGES_PER_PROJECT
    return UploadResult(
        "ErrorLimitExceed", None,
        f"This project has reached its limit of {limit:,} images. Delete images you no longer need before "
        "uploading more.",
    )


def _project_images(*, project: Project, image_ids: Iterable[Any]) -> list[UUID]:
    try:
        ids = {as_uuid(i) for i in image_ids}
    except (ValueError, TypeError, AttributeError) as exc:
        raise errors.InvalidIds("An image id is malformed.") from exc
    found = list(Image.objects.filter(project=project, id__in=ids).values_list("id", flat=True))
    if len(found) != len(ids):
        raise errors.InvalidIds("Some images are not in this project.")
    return found


def _project_tags(*, project: Project, tag_ids: Iterable[Any]) -> list[Tag]:
    try:
        ids = {as_uuid(t) for t in tag_ids}
    except (ValueError, TypeError, AttributeError) as exc:
        raise errors.InvalidIds("A tag id is malformed.") from exc
    found = list(Tag.objects.filter(project=project, id__in=ids))
    if len(found) != len(ids):
        raise errors.InvalidIds("Some tags are not in this project.")
    return found


# Called with the ids of images whose tags changed, inside the change's transaction (registered by higher apps in
# their AppConfig.ready: health drops the images' stored suggestions).
_tags_changed_hooks: list[Callable[[list[Any]], None]] = []


def image_tags_changed_hook_add(hook: Callable[[list[Any]], None]) -> None:
    if hook not in _tags_changed_hooks:
        _tags_changed_hooks.append(hook)


def _tags_changed(image_ids: Iterable[Any]) -> None:
    ids = list(image_ids)
    for hook in _tags_changed_hooks:
        hook(ids)


def images_tag(*, project: Project, image_ids: Iterable[Any], tag_ids: Iterable[Any]) -> int:
    """Add tags to images (already-present pairs are skipped). Returns the number of pairs added."""
    images = _project_images(project=project, image_ids=image_ids)
    tags = _project_tags(project=project, tag_ids=tag_ids)
    if not images or not tags:
        return 0
    through = Image.tags.through
    negative = {t.id for t in tags if t.type == Tag.TagType.NEGATIVE}
    if negative:
        clash = len(negative) != len(tags) or through.objects.filter(
            image_id__in=images, tag__type=Tag.TagType.REGULAR
        ).exists()
    else:
        clash = through.objects.filter(image_id__in=images, tag__type=Tag.TagType.NEGATIVE).exists()
    if clash:
        raise errors.NegativeAndRegularTagOnSameImage("An image cannot have the Negative tag and other tags.")
    with transaction.atomic():
        existing = set(
            through.objects.filter(image_id__in=images, tag_id__in=[t.id for t in tags]).values_list(
                "image_id", "tag_id"
            )
        )
        rows = [through(image_id=i, tag_id=t.id) for i in images for t in tags if (i, t.id) not in existing]
        through.objects.bulk_create(rows, ignore_conflicts=True)
        if rows:
            _tags_changed({r.image_id for r in rows})
            audit.record(workspace_id=project.workspace_id, action="tag", project=project, count=len(rows))
    return len(rows)


def images_tag_set(*, project: Project, image_ids: Iterable[Any], tag_id: Any) -> int:
    """Put one tag on images as the portal tags them, so a classification image never breaks Azure's rules.

    Multiclass (and the Negative tag anywhere): the tag replaces the images' other tags. Multilabel: it is
    added, and a Negative tag the images had is dropped. Detection images get it added (their tags follow
    their boxes). Returns the number of image-tag pairs added.
    """
    [tag] = _project_tags(project=project, tag_ids=[tag_id])
    images = _project_images(project=project, image_ids=image_ids)
    if project.is_detection:
        return images_tag(project=project, image_ids=images, tag_ids=[tag.id])
    others = Image.tags.through.objects.filter(image_id__in=images).exclude(tag_id=tag.id)
    if project.is_multilabel and tag.type != Tag.TagType.NEGATIVE:
        others = others.filter(tag__type=Tag.TagType.NEGATIVE)
    with transaction.atomic():
        drop = set(others.values_list("tag_id", flat=True))
        if drop:
            images_untag(project=project, image_ids=images, tag_ids=drop)
        return images_tag(project=project, image_ids=images, tag_ids=[tag.id])


def images_untag(*, project: Project, image_ids: Iterable[Any], tag_ids: Iterable[Any]) -> int:
    """Remove tags from images (and, for those tags, the images' regions). Returns the pairs removed."""
    images = _project_images(project=project, image_ids=image_ids)
    tags = [t.id for t in _project_tags(project=project, tag_ids=tag_ids)]
    with transaction.atomic():
        deleted, _ = Image.tags.through.objects.filter(image_id__in=images, tag_id__in=tags).delete()
        region_hooks().untag(image_ids=images, tag_ids=tags)
        if deleted:
            _tags_changed(images)
            audit.record(workspace_id=project.workspace_id, action="tag", project=project, count=deleted)
    return deleted


def images_delete(*, project: Project, image_ids: Iterable[Any]) -> int:
    """Delete images of this project (unknown ids are ignored) and, after commit, their files."""
    try:
        ids = {as_uuid(i) for i in image_ids}
    except (ValueError, TypeError, AttributeError) as exc:
        raise errors.InvalidIds("An image id is malformed.") from exc
    with transaction.atomic():
        rows = list(Image.objects.filter(project=project, id__in=ids).values_list("id", "file", "display", "thumbnail"))
        if not rows:
            return 0
        Image.objects.filter(project=project, id__in=[r[0] for r in rows]).delete()
        names = {name for row in rows for name in row[1:] if name}
        transaction.on_commit(lambda: storage_delete(sorted(names)))
        audit.record(workspace_id=project.workspace_id, action="image.delete", project=project, count=len(rows))
    return len(rows)


MAX_METADATA_PAIRS = 10
MAX_METADATA_KEY = 128
MAX_METADATA_VALUE = 256


def metadata_clean(metadata: Any, *, new_image: bool = False) -> dict[str, str]:
    """Azure's image metadata checked: an object of 1..128-character keys and string values of at most 256
    characters (and, for a ``new_image``, at most 10 pairs; an update checks the pairs after merging)."""
    if not isinstance(metadata, Mapping):
        raise errors.InvalidMetadata("Metadata must be an object of string keys and string values.")
    clean: dict[str, str] = {}
    for key, value in metadata.items():
        if not isinstance(key, str) or not key or len(key) > MAX_METADATA_KEY:
            raise errors.InvalidMetadata(f"Metadata keys are 1 to {MAX_METADATA_KEY} characters.")
        if not isinstance(value, str) or len(value) > MAX_METADATA_VALUE:
            raise errors.InvalidMetadata(f"Metadata values are strings of at most {MAX_METADATA_VALUE} characters.")
        clean[key] = value
    if new_image and len(clean) > MAX_METADATA_PAIRS:
        raise errors.InvalidMetadata(f"An image has at most {MAX_METADATA_PAIRS} metadata pairs, not {len(clean)}.")
    return clean


def images_metadata_update(
    *, project: Project, image_ids: Iterable[Any], metadata: Mapping[str, Any]
) -> list[tuple[UUID, str, dict[str, str]]]:
    """Merge ``metadata`` into each image's (Azure's update_image_metadata).

    Returns (image id, status, metadata) per requested image, status as Azure's ImageMetadataUpdateStatus:
    ``OK``, ``ErrorImageNotFound`` (not an image of this project) or ``ErrorLimitExceed`` (more than 10 pairs).
    """
    clean = metadata_clean(metadata)
    try:
        ids = list(dict.fromkeys(as_uuid(i) for i in image_ids))
    except (ValueError, TypeError, AttributeError) as exc:
        raise errors.InvalidIds("An image id is malformed.") from exc
    results: list[tuple[UUID, str, dict[str, str]]] = []
    with transaction.atomic():
        images = {i.id: i for i in Image.objects.select_for_update().filter(project=project, id__in=ids)}
        for image_id in ids:
            image = images.get(image_id)
            if image is None:
                results.append((image_id, "ErrorImageNotFound", {}))
                continue
            merged = {**image.metadata, **clean}
            if len(merged) > MAX_METADATA_PAIRS:
                results.append((image_id, "ErrorLimitExceed", dict(image.metadata)))
                continue
            image.metadata = merged
            image.save(update_fields=["metadata"])
            results.append((image_id, "OK", merged))
    return results
