"""Write-side operations on projects, tags and images (keyword-only; raise projects.errors, never HTTP)."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, default_storage
from django.db import DatabaseError, IntegrityError, transaction

from projects import errors
from projects.domains import DEFAULT_CLASSIFICATION_DOMAIN, DEFAULT_DETECTION_DOMAIN, DOMAINS_BY_ID, OBJECT_DETECTION
from projects.images import ImageRejected, Renditions, render
from projects.models import Image, Project, Tag

logger = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------------- projects


def _domain_for(project_type: str | None, domain_id: UUID | str | None) -> tuple[str, UUID]:
    """Resolve (project_type, domain_id); the domain decides the type, as in Azure."""
    if project_type is not None and project_type not in Project.ProjectType.values:
        raise errors.ProjectsError(f"Unknown project type {project_type!r}.")
    if domain_id in (None, ""):
        is_detection = project_type == Project.ProjectType.DETECTION
        return (project_type or "classification", DEFAULT_DETECTION_DOMAIN if is_detection else DEFAULT_CLASSIFICATION_DOMAIN)
    try:
        domain = DOMAINS_BY_ID[domain_id if isinstance(domain_id, UUID) else UUID(str(domain_id))]
    except (KeyError, ValueError) as exc:
        raise errors.UnknownDomain(f"Unknown domain {domain_id}.") from exc
    domain_type = Project.ProjectType.DETECTION if domain.type == OBJECT_DETECTION else Project.ProjectType.CLASSIFICATION
    if project_type is not None and project_type != domain_type:
        raise errors.UnknownDomain(f"Domain {domain.name!r} is not a {Project.ProjectType(project_type).label} domain.")
    return domain_type, domain.id


def _clean_name(name: str, error: type[errors.ProjectsError], what: str) -> str:
    name = (name or "").strip()
    if not name:
        raise error(f"The {what} name is required.")
    if len(name) > 200:
        raise error(f"The {what} name is longer than 200 characters.")
    return name


def project_create(
    *,
    owner: Any,
    name: str,
    description: str = "",
    project_type: str | None = None,
    classification_type: str = "Multiclass",
    domain_id: UUID | str | None = None,
) -> Project:
    """Create a project. The domain decides the project type; without one, the type's General domain."""
    name = _clean_name(name, errors.ProjectNameInvalid, "project")
    project_type, resolved_domain = _domain_for(project_type, domain_id)
    if classification_type not in Project.ClassificationType.values:
        raise errors.UnknownClassificationType(f"Unknown classification type {classification_type!r}.")
    return Project.objects.create(
        owner=owner,
        name=name,
        description=description or "",
        project_type=project_type,
        classification_type=classification_type,
        domain_id=resolved_domain,
    )


_PROJECT_FIELDS = {"name", "description", "classification_type", "domain_id", "project_type"}


def project_update(*, project: Project, **fields: Any) -> Project:
    """Change name, description, classification type or domain (a domain of another type changes the type)."""
    unknown = set(fields) - _PROJECT_FIELDS
    if unknown:
        raise TypeError(f"project_update() got unexpected fields {sorted(unknown)}")
    if "name" in fields:
        project.name = _clean_name(fields["name"], errors.ProjectNameInvalid, "project")
    if "description" in fields:
        project.description = fields["description"] or ""
    if "classification_type" in fields:
        if fields["classification_type"] not in Project.ClassificationType.values:
            raise errors.UnknownClassificationType(f"Unknown classification type {fields['classification_type']!r}.")
        project.classification_type = fields["classification_type"]
    if "domain_id" in fields or "project_type" in fields:
        project_type, domain_id = _domain_for(fields.get("project_type"), fields.get("domain_id", project.domain_id))
        if project_type == Project.ProjectType.DETECTION and project.tags.filter(type=Tag.TagType.NEGATIVE).exists():
            raise errors.TagTypeInvalid("Remove the Negative tag first: detection projects have no Negative tag.")
        project.project_type, project.domain_id = project_type, domain_id
    project.save()
    return project


def project_delete(*, project: Project) -> None:
    """Delete the project, its rows, and (once the deletion commits) every file under its media folder."""
    prefix = f"projects/{project.id}"
    with transaction.atomic():
        project.delete()
        transaction.on_commit(lambda: _storage_delete_tree(prefix))


def _storage_delete_tree(prefix: str) -> None:
    storage = default_storage
    try:
        if isinstance(storage, FileSystemStorage):
            shutil.rmtree(storage.path(prefix), ignore_errors=True)
            return
        stack = [prefix]
        while stack:
            folder = stack.pop()
            dirs, files = storage.listdir(folder)
            stack.extend(f"{folder}/{d}" for d in dirs)
            for name in files:
                storage.delete(f"{folder}/{name}")
    except Exception:  # a leftover file must not turn a committed deletion into an error page
        logger.exception("could not delete media under %s", prefix)


# ---------------------------------------------------------------------------------------------- tags


def tag_create(*, project: Project, name: str, description: str = "", type: str = "Regular") -> Tag:  # noqa: A002
    """Create a tag; names are unique per project ignoring case; Negative only in classification projects."""
    name = _clean_name(name, errors.TagNameInvalid, "tag")
    _check_tag_type(project=project, type=type)
    if Tag.objects.filter(project=project, name__iexact=name).exists():
        raise errors.TagNameNotUnique(f"A tag named {name!r} already exists in this project.")
    try:
        with transaction.atomic():
            return Tag.objects.create(project=project, name=name, description=description or "", type=type)
    except IntegrityError as exc:  # a concurrent create won the race for the same name
        raise errors.TagNameNotUnique(f"A tag named {name!r} already exists in this project.") from exc


def _check_tag_type(*, project: Project, type: str) -> None:  # noqa: A002
    if type not in Tag.TagType.values:
        raise errors.TagTypeInvalid(f"Unknown tag type {type!r}.")
    if type == Tag.TagType.NEGATIVE:
        if project.is_detection:
            raise errors.TagTypeInvalid("Negative tags exist only in classification projects.")
        if project.tags.filter(type=Tag.TagType.NEGATIVE).exists():
            raise errors.TagTypeInvalid("This project already has a Negative tag.")


def tag_update(*, tag: Tag, name: str | None = None, description: str | None = None, type: str | None = None) -> Tag:  # noqa: A002
    """Rename a tag, or change its description or type."""
    if name is not None:
        name = _clean_name(name, errors.TagNameInvalid, "tag")
        if Tag.objects.filter(project_id=tag.project_id, name__iexact=name).exclude(pk=tag.pk).exists():
            raise errors.TagNameNotUnique(f"A tag named {name!r} already exists in this project.")
        tag.name = name
    if description is not None:
        tag.description = description
    if type is not None and type != tag.type:
        _check_tag_type(project=tag.project, type=type)
        tag.type = type
    try:
        with transaction.atomic():
            tag.save()
    except IntegrityError as exc:
        raise errors.TagNameNotUnique(f"A tag named {tag.name!r} already exists in this project.") from exc
    return tag


def tag_delete(*, tag: Tag) -> None:
    """Delete a tag; its images stay (untagged if it was their only tag) and its regions go."""
    tag.delete()


# ---------------------------------------------------------------------------------------------- images


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


def _as_uuid(value: Any) -> UUID:
    if isinstance(value, Tag):
        return value.id
    return value if isinstance(value, UUID) else UUID(str(value))


def _resolve_tags(*, project: Project, tags: Iterable[Any], regions: Sequence[Mapping[str, Any]]) -> dict[UUID, Tag]:
    try:
        wanted = {_as_uuid(t) for t in tags} | {_as_uuid(r["tag"]) for r in regions}
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        raise _InvalidUpload("ErrorInvalidTag", "A tag id is malformed.") from exc
    if not wanted:
        return {}
    found = {t.id: t for t in Tag.objects.filter(project=project, id__in=wanted)}
    if len(found) != len(wanted):
        raise _InvalidUpload("ErrorInvalidTag", "A tag does not belong to this project.")
    return found


def _clean_regions(regions: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    cleaned = []
    for region in regions:
        try:
            left, top, width, height = (float(region[k]) for k in ("left", "top", "width", "height"))
        except (KeyError, TypeError, ValueError) as exc:
            raise _InvalidUpload("ErrorUnknown", "A region needs numeric left, top, width and height.") from exc
        eps = 1e-6
        if not (-eps <= left <= 1 and -eps <= top <= 1 and width > 0 and height > 0):
            raise _InvalidUpload("ErrorUnknown", "A region lies outside the image (values are fractions 0..1).")
        if left + width > 1 + 1e-3 or top + height > 1 + 1e-3:
            raise _InvalidUpload("ErrorUnknown", "A region lies outside the image (values are fractions 0..1).")
        left, top = max(left, 0.0), max(top, 0.0)
        cleaned.append(
            {"tag_id": _as_uuid(region["tag"]), "left": left, "top": top,
             "width": min(width, 1 - left), "height": min(height, 1 - top)}
        )
    return cleaned


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
        _storage_delete(written)
        raise
    return original, display, thumbnail, written


def _storage_delete(names: Iterable[str]) -> None:
    folders = set()
    for name in names:
        try:
            default_storage.delete(name)
            folders.add(name.rpartition("/")[0])
        except Exception:  # best effort: report, keep deleting the rest
            logger.exception("could not delete %s", name)
    if isinstance(default_storage, FileSystemStorage):  # S3 has no folders; on disk, drop the emptied ones
        for folder in folders:
            try:
                os.rmdir(default_storage.path(folder))
            except OSError:
                pass


def image_upload(
    *,
    project: Project,
    data: bytes,
    filename: str = "",
    tags: Iterable[Any] = (),
    regions: Sequence[Mapping[str, Any]] = (),
) -> UploadResult:
    """Verify, orient and store one image with its thumbnail and display renditions; never half-written.

    Files are written first, then the row (with tags and regions) in one transaction; if the database
    fails the files are deleted again, and if storage fails nothing is written. Same bytes twice in a
    project: ``OKDuplicate`` with the image already there (its tags are left as they are, as Azure does).
    """
    try:
        tag_map = _resolve_tags(project=project, tags=tags, regions=regions)
        clean_regions = _clean_regions(regions)
    except _InvalidUpload as exc:
        return UploadResult(exc.status, None, exc.message)
    types = {t.type for t in tag_map.values()}
    if Tag.TagType.NEGATIVE in types and len(types) > 1:
        return UploadResult("ErrorNegativeAndRegularTagOnSameImage", None, "A Negative tag cannot go with other tags.")

    sha256 = hashlib.sha256(data).hexdigest()
    existing = Image.objects.filter(project=project, sha256=sha256).first() if data else None
    if existing is not None:
        return UploadResult("OKDuplicate", existing, "The same image is already in this project.")
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
            )
            # Region tags are image tags too (as in Azure), so "Tagged" means the same in both project types.
            tag_ids = set(tag_map) | {r["tag_id"] for r in clean_regions}
            if tag_ids:
                Image.tags.through.objects.bulk_create(
                    [Image.tags.through(image_id=image_id, tag_id=t) for t in tag_ids]
                )
            if clean_regions:
                # labeling depends on projects, never the reverse at import time: the import is deferred to
                # the call, so `import projects.services` never loads labeling (the app is always installed).
                from labeling.models import Region

                Region.objects.bulk_create([Region(image_id=image_id, **r) for r in clean_regions])
    except IntegrityError:
        _storage_delete(written)
        duplicate = Image.objects.filter(project=project, sha256=sha256).first()
        if duplicate is not None:  # a concurrent upload of the same bytes won
            return UploadResult("OKDuplicate", duplicate, "The same image is already in this project.")
        logger.exception("database refused an upload to project %s", project.id)
        return UploadResult("ErrorUnknown", None, "The database refused the image; nothing was saved.")
    except DatabaseError:
        _storage_delete(written)
        logger.exception("database failed for an upload to project %s", project.id)
        return UploadResult("ErrorUnknown", None, "The database failed; nothing was saved.")
    return UploadResult("OK", image, "")


def _project_images(*, project: Project, image_ids: Iterable[Any]) -> list[UUID]:
    try:
        ids = {_as_uuid(i) for i in image_ids}
    except (ValueError, TypeError, AttributeError) as exc:
        raise errors.InvalidIds("An image id is malformed.") from exc
    found = list(Image.objects.filter(project=project, id__in=ids).values_list("id", flat=True))
    if len(found) != len(ids):
        raise errors.InvalidIds("Some images are not in this project.")
    return found


def _project_tags(*, project: Project, tag_ids: Iterable[Any]) -> list[Tag]:
    try:
        ids = {_as_uuid(t) for t in tag_ids}
    except (ValueError, TypeError, AttributeError) as exc:
        raise errors.InvalidIds("A tag id is malformed.") from exc
    found = list(Tag.objects.filter(project=project, id__in=ids))
    if len(found) != len(ids):
        raise errors.InvalidIds("Some tags are not in this project.")
    return found


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
            through.objects.filter(image_id__in=images, tag_id__in=[t.id for t in tags]).values_list("image_id", "tag_id")
        )
        rows = [through(image_id=i, tag_id=t.id) for i in images for t in tags if (i, t.id) not in existing]
        through.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def images_untag(*, project: Project, image_ids: Iterable[Any], tag_ids: Iterable[Any]) -> int:
    """Remove tags from images (and, for those tags, the images' regions). Returns the pairs removed."""
    images = _project_images(project=project, image_ids=image_ids)
    tags = [t.id for t in _project_tags(project=project, tag_ids=tag_ids)]
    with transaction.atomic():
        deleted, _ = Image.tags.through.objects.filter(image_id__in=images, tag_id__in=tags).delete()
        from labeling.models import Region  # deferred: projects never imports labeling at module load

        Region.objects.filter(image_id__in=images, tag_id__in=tags).delete()
    return deleted


def images_delete(*, project: Project, image_ids: Iterable[Any]) -> int:
    """Delete images of this project (unknown ids are ignored) and, after commit, their files."""
    try:
        ids = {_as_uuid(i) for i in image_ids}
    except (ValueError, TypeError, AttributeError) as exc:
        raise errors.InvalidIds("An image id is malformed.") from exc
    with transaction.atomic():
        rows = list(Image.objects.filter(project=project, id__in=ids).values_list("id", "file", "display", "thumbnail"))
        if not rows:
            return 0
        Image.objects.filter(project=project, id__in=[r[0] for r in rows]).delete()
        names = {name for row in rows for name in row[1:] if name}
        transaction.on_commit(lambda: _storage_delete(sorted(names)))
    return len(rows)
