"""Azure Custom Vision Training API for images: uploads (files, data, urls), lists, counts, by ids, tags, delete."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.http import HttpRequest, HttpResponse

from portal.azure import wire
from portal.azure.auth import training_key_required
from portal.azure.batch import parse_file_batch
from portal.azure.errors import AzureError
from portal.azure.multipart import image_parts
from portal.azure.odata import parse_metadata_filter
from projects.api import image_json, iteration_data_for, project_for, tags_for, with_relations
from projects.iteration_data import IterationData
from projects.models import Image, Project, Tag
from projects.selectors import image_list
from projects.services import (
    image_upload,
    images_delete,
    images_metadata_update,
    images_tag,
    images_untag,
    metadata_clean,
)

logger = logging.getLogger(__name__)

MAX_BATCH_IMAGES = 64
MAX_BATCH_TAGS = 20
MAX_IDS = 256
MAX_TAG_BATCH = 64


@dataclass
class _Entry:
    """One image of a create batch, after the wire is parsed: tags resolved, regions validated."""

    name: str = ""
    source_url: str | None = None
    tags: list[Tag] = field(default_factory=list)
    regions: list[dict[str, Any]] = field(default_factory=list)  # {"tag": Tag, "left", "top", "width", "height"}


def _ids(value: Any, what: str) -> list[uuid.UUID]:
    if value in (None, ""):
        return []
    if isinstance(value, str):
        value = [v for v in value.split(",") if v.strip()]
    if not isinstance(value, list):
        raise AzureError("BadRequestInvalidIds", f"{what} must be a list of ids.", 400)
    return wire.parse_guids(value, what=what)


def _entry(project: Project, raw: dict[str, Any], batch_tag_ids: list[uuid.UUID], tags: dict[uuid.UUID, Tag]) -> _Entry:
    tag_ids = list(dict.fromkeys(batch_tag_ids + _ids(wire.body_field(raw, "tagIds"), "tagIds")))
    if len(tag_ids) > MAX_BATCH_TAGS:
        raise AzureError("BadRequestExceededBatchSize", f"At most {MAX_BATCH_TAGS} tags per image.", 400)
    regions: list[dict[str, Any]] = []
    raw_regions = wire.body_field(raw, "regions") or []
    if not isinstance(raw_regions, list):
        raise AzureError("BadRequestImageRegions", "regions must be a list.", 400)
    for region in raw_regions:
        if not isinstance(region, dict):
            raise AzureError("BadRequestImageRegions", "Each region must be an object.", 400)
        (tag_id,) = _ids([wire.body_field(region, "tagId")], "tagId")
        coords = {k: wire.body_field(region, k) for k in ("left", "top", "width", "height")}
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in coords.values()):
            raise AzureError("BadRequestImageRegions", "A region needs numeric left, top, width and height.", 400)
        regions.append({"tag_id": tag_id, **{k: float(v) for k, v in coords.items()}})
    region_tag_ids: list[uuid.UUID] = [r["tag_id"] for r in regions]
    wanted = [t for t in tag_ids + region_tag_ids if t not in tags]
    tags.update({t.id: t for t in tags_for(project, wanted)})
    return _Entry(
        name=str(wire.body_field(raw, "name") or ""),
        tags=[tags[t] for t in tag_ids],
        regions=[{"tag": tags[r.pop("tag_id")], **r} for r in regions],
    )


def _upload(project: Project, entry: _Entry, data: bytes | None, metadata: dict[str, str] | None = None
            ) -> dict[str, Any]:
    """Upload one image (with its tags, regions and the batch's metadata) through the portal's service; an
    ImageCreateResult's parts."""
    if data is None:
        return {"status": "ErrorImageFormat", "image": None, "message": "contents is missing or not base64."}
    result = image_upload(project=project, data=data, filename=entry.name, tags=entry.tags, regions=entry.regions,
                          metadata=metadata)
    return {"status": result.status, "image": result.image, "message": result.message}


def _summary(request: HttpRequest, results: list[dict[str, Any]]) -> HttpResponse:
    """ImageCreateSummary: 200 when every image is OK, else 207 with per-image status."""
    ok = all(r["status"] == "OK" for r in results)
    images = [r["image"].pk for r in results if r["image"] is not None]
    loaded = {i.pk: i for i in with_relations(Image.objects.filter(pk__in=images))}
    body = {
        "isBatchSuccessful": ok,
        "images": [
            {
                "sourceUrl": r.get("source_url"),
                "status": r["status"],
                "image": image_json(request, loaded[r["image"].pk]) if r["image"] is not None else None,
            }
            for r in results
        ],
    }
    return wire.respond(body, status=200 if ok else 207)


def _batch_metadata(body: Any) -> dict[str, str]:
    """A create batch's ``metadata`` (v3.3+): pairs given to every image of the batch, checked before any write."""
    return metadata_clean(wire.body_field(body, "metadata") or {}, new_image=True)


def _batch_tag_ids(value: Any) -> list[uuid.UUID]:
    ids = _ids(value, "tagIds")
    if len(ids) > MAX_BATCH_TAGS:
        raise AzureError("BadRequestExceededBatchSize", f"At most {MAX_BATCH_TAGS} tags per batch.", 400)
    return ids


def _check_count(n: int) -> None:
    if n == 0:
        raise AzureError("BadRequestImageBatch", "The batch contains no images.", 400)
    if n > MAX_BATCH_IMAGES:
        raise AzureError("BadRequestImageBatch", f"At most {MAX_BATCH_IMAGES} images per batch, got {n}.", 400)


# ---------------------------------------------------------------- uploads


@training_key_required
def create_images_from_files(request: HttpRequest, project_id: str) -> HttpResponse:
    project = project_for(request, project_id)
    batch = parse_file_batch(request.body)
    raw_entries = list(batch.entries())
    _check_count(len(raw_entries))
    batch_tags = _batch_tag_ids(wire.body_field(batch.data, "tagIds"))
    metadata = _batch_metadata(batch.data)
    known: dict[uuid.UUID, Tag] = {}
    entries = [_entry(project, raw, batch_tags, known) for raw in raw_entries]  # validate all before writing
    results = []
    for raw, entry in zip(raw_entries, entries, strict=True):
        results.append(_upload(project, entry, batch.contents(raw), metadata))  # decoded here, dropped after
    return _summary(request, results)


@training_key_required
def create_images_from_data(request: HttpRequest, project_id: str) -> HttpResponse:
    project = project_for(request, project_id)
    tags = tags_for(project, wire.query_guids(request, "tagIds", limit=MAX_BATCH_TAGS))
    parts = image_parts(request)
    _check_count(len(parts))
    # One copy of one part at a time (the parts are views into the request body).
    return _summary(request, [_upload(project, _Entry(tags=list(tags)), bytes(part)) for part in parts])


@training_key_required
def create_images_from_urls(request: HttpRequest, project_id: str) -> HttpResponse:
    project = project_for(request, project_id)
    body = wire.json_body(request, required=True)
    raw_entries = wire.body_objects(body, "images", code="BadRequestImageBatch", shape="{url, tagIds, regions}")
    _check_count(len(raw_entries))
    batch_tags = _batch_tag_ids(wire.body_field(body, "tagIds"))
    metadata = _batch_metadata(body)
    known: dict[uuid.UUID, Tag] = {}
    entries = []
    for raw in raw_entries:
        url = wire.body_field(raw, "url")
        if not isinstance(url, str) or not url.strip():
            raise AzureError("BadRequestImageUrl", "Each image needs a url.", 400)
        entry = _entry(project, raw, batch_tags, known)
        entry.source_url = url.strip()
        entry.name = url.strip().rsplit("/", 1)[-1][:255]
        entries.append(entry)
    from projects.fetch import FetchError, fetch_image

    results = []
    for entry in entries:
        try:
            data = fetch_image(entry.source_url or "")
        except FetchError as exc:
            logger.info("image url fetch failed for project %s: %s", project.id, exc)
            results.append({"status": exc.status, "image": None, "source_url": entry.source_url})
            continue
        result = _upload(project, entry, data, metadata)
        result["source_url"] = entry.source_url
        results.append(result)
    return _summary(request, results)


# ---------------------------------------------------------------- lists and counts


def _order(request: HttpRequest) -> str:
    value = (wire.query_str(request, "orderBy") or "Newest").lower()
    if value not in ("newest", "oldest", "suggested"):
        raise AzureError("BadRequest", "orderBy must be Newest or Oldest.", 400)
    return "oldest" if value == "oldest" else "newest"


def _tagged(request: HttpRequest) -> bool | None:
    value = (wire.query_str(request, "taggingStatus") or "All").lower()
    if value not in ("all", "tagged", "untagged"):
        raise AzureError("BadRequest", "taggingStatus must be All, Tagged or Untagged.", 400)
    return {"all": None, "tagged": True, "untagged": False}[value]


@dataclass
class _Listing:
    """The images one list or count request selects: the workspace's, or (``iterationId``) an iteration's as
    trained: its images that still exist, with their trained tags; counts are of the images it was trained on."""

    request: HttpRequest
    project: Project
    images: Any  # QuerySet[Image] of the workspace, or the ordered ids of the iteration's images
    trained: IterationData | None = None
    trained_count: int = 0

    def count(self) -> int:
        return self.images.count() if self.trained is None else self.trained_count

    def page(self) -> HttpResponse:
        skip, take = wire.paging(self.request)
        if self.trained is None:
            rows = list(with_relations(self.images)[skip : skip + take])
        else:
            ids = self.images[skip : skip + take]
            found = {i.id: i for i in with_relations(Image.objects.filter(project=self.project, id__in=ids))}
            rows = [found[i] for i in ids if i in found]
        return wire.respond([self.json(i) for i in rows])

    def json(self, image: Image) -> dict[str, Any]:
        if self.trained is None:
            return image_json(self.request, image)
        return image_json(self.request, image, self.trained.images[image.id], self.trained.tag_names())


def _listing(
    request: HttpRequest, project_id: str, *, tagged: Callable[[HttpRequest], bool | None], tag_filter: bool = True
) -> _Listing:
    project = project_for(request, project_id)
    trained = iteration_data_for(request, project)
    tag_ids = wire.query_guids(request, "tagIds", limit=MAX_BATCH_TAGS) if tag_filter else []
    status, order = tagged(request), _order(request)
    metadata = parse_metadata_filter(wire.query_str(request, "$filter"))
    if trained is None:
        images = image_list(project=project, tagged=status, tag_ids=tag_ids, order=order, metadata=metadata)
        return _Listing(request, project, images)
    ids = set(trained.image_ids(tagged=status, tag_ids=tag_ids))
    # The iteration's images that still exist (and match $filter), in the requested order: one query for ids.
    rows = image_list(project=project, order=order, metadata=metadata).values_list("id", flat=True)
    kept = [i for i in rows if i in ids]
    # Counts are as trained (images deleted since included), but metadata lives on today's images only.
    return _Listing(request, project, kept, trained=trained, trained_count=len(ids) if metadata is None else len(kept))


@training_key_required
def get_images(request: HttpRequest, project_id: str) -> HttpResponse:
    return _listing(request, project_id, tagged=_tagged).page()


@training_key_required
def get_image_count(request: HttpRequest, project_id: str) -> HttpResponse:
    return wire.respond(_listing(request, project_id, tagged=_tagged).count())


@training_key_required
def get_tagged_images(request: HttpRequest, project_id: str) -> HttpResponse:
    return _listing(request, project_id, tagged=lambda r: True).page()


@training_key_required
def get_tagged_image_count(request: HttpRequest, project_id: str) -> HttpResponse:
    return wire.respond(_listing(request, project_id, tagged=lambda r: True).count())


@training_key_required
def get_untagged_images(request: HttpRequest, project_id: str) -> HttpResponse:
    return _listing(request, project_id, tagged=lambda r: False, tag_filter=False).page()


@training_key_required
def get_untagged_image_count(request: HttpRequest, project_id: str) -> HttpResponse:
    return wire.respond(_listing(request, project_id, tagged=lambda r: False, tag_filter=False).count())


@training_key_required
def get_images_by_ids(request: HttpRequest, project_id: str) -> HttpResponse:
    project = project_for(request, project_id)
    trained = iteration_data_for(request, project)
    ids = wire.query_guids(request, "imageIds", limit=MAX_IDS)
    if trained is not None:
        ids = [i for i in ids if i in trained.images]
    found = {i.id: i for i in with_relations(project.images.filter(id__in=ids))}
    listing = _Listing(request, project, None, trained=trained)
    return wire.respond([listing.json(found[i]) for i in ids if i in found])


@training_key_required
def delete_images(request: HttpRequest, project_id: str) -> HttpResponse:
    project = project_for(request, project_id)
    wire.query_bool(request, "allIterations")  # validated; iterations keep their own snapshot of the data
    if wire.query_bool(request, "allImages"):
        ids: Iterable[uuid.UUID] = list(project.images.values_list("id", flat=True))
    else:
        ids = wire.query_guids(request, "imageIds", limit=MAX_IDS)
        if not ids:
            raise AzureError("BadRequestInvalidIds", "imageIds (or allImages=true) is required.", 400)
    images_delete(project=project, image_ids=list(ids))
    return wire.no_content()


# ---------------------------------------------------------------- image tags and metadata


@training_key_required
def create_image_tags(request: HttpRequest, project_id: str) -> HttpResponse:
    project = project_for(request, project_id)
    body = wire.json_body(request, required=True)
    raw = wire.body_objects(body, "tags", code="BadRequest", shape="{imageId, tagId}")
    if len(raw) > MAX_TAG_BATCH:
        raise AzureError("BadRequestExceededBatchSize", f"At most {MAX_TAG_BATCH} entries per batch.", 400)
    pairs = [
        (
            wire.parse_guid(wire.body_field(e, "imageId"), what="imageId"),
            wire.parse_guid(wire.body_field(e, "tagId"), what="tagId"),
        )
        for e in raw
    ]
    tags_for(project, {t for _, t in pairs})
    image_ids = {i for i, _ in pairs}
    known = set(project.images.filter(id__in=image_ids).values_list("id", flat=True))
    if image_ids - known:
        raise AzureError("BadRequestInvalidIds", "Unknown image ids: " + ", ".join(map(str, image_ids - known)), 400)
    existing = set(
        Image.tags.through.objects.filter(image_id__in=image_ids).values_list("image_id", "tag_id")  # read only
    )
    created, duplicated = [], []
    for image_id, tag_id in dict.fromkeys(pairs):
        entry = {"imageId": str(image_id), "tagId": str(tag_id)}
        if (image_id, tag_id) in existing:
            duplicated.append(entry)
            continue
        images_tag(project=project, image_ids=[image_id], tag_ids=[tag_id])
        created.append(entry)
    return wire.respond({"created": created, "duplicated": duplicated, "exceeded": []})


@training_key_required
def delete_image_tags(request: HttpRequest, project_id: str) -> HttpResponse:
    project = project_for(request, project_id)
    image_ids = wire.query_guids(request, "imageIds", limit=MAX_TAG_BATCH)
    tag_ids = wire.query_guids(request, "tagIds", limit=MAX_BATCH_TAGS)
    if not image_ids or not tag_ids:
        raise AzureError("BadRequestInvalidIds", "imageIds and tagIds are required.", 400)
    images_untag(project=project, image_ids=image_ids, tag_ids=tag_ids)
    return wire.no_content()


@training_key_required
def update_image_metadata(request: HttpRequest, project_id: str) -> HttpResponse:
    """ImageMetadataUpdateSummary: 200 when every image is OK, else 207 with per-image status."""
    project = project_for(request, project_id)
    image_ids = wire.query_guids(request, "imageIds", limit=MAX_TAG_BATCH)
    if not image_ids:
        raise AzureError("BadRequestInvalidIds", "imageIds is required.", 400)
    metadata = wire.json_body(request, required=True)
    results = images_metadata_update(project=project, image_ids=image_ids, metadata=metadata)
    ok = all(status == "OK" for _, status, _ in results)
    body = {
        "isBatchSuccessful": ok,
        "images": [{"imageId": str(i), "status": status, "metadata": meta} for i, status, meta in results],
    }
    return wire.respond(body, status=200 if ok else 207)
