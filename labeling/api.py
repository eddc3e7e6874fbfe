"""Azure Custom Vision Training API for image regions: create (batch), delete, proposals."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse

from labeling.models import Region
from labeling.services import RegionEntry, region_delete, regions_create
from portal.azure import wire
from portal.azure.auth import training_key_required
from portal.azure.errors import AzureError
from projects.api import project_for

MAX_REGION_BATCH = 64


def _number(entry: dict[str, Any], name: str) -> float:
    value = wire.body_field(entry, name)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise AzureError("BadRequestImageRegions", f"{name} must be a number.", 400)
    return float(value)


def _entry_json(entry: Any) -> dict[str, Any]:
    return {
        "imageId": str(entry.image_id),
        "tagId": str(entry.tag_id),
        "left": entry.left,
        "top": entry.top,
        "width": entry.width,
        "height": entry.height,
    }


@training_key_required
def create_image_regions(request: HttpRequest, project_id: str) -> HttpResponse:
    project = project_for(request, project_id)
    body = wire.json_body(request, required=True)
    raw = wire.body_objects(body, "regions", code="BadRequestImageRegions", shape="ImageRegionCreateEntry")
    if not raw:
        raise AzureError("BadRequestImageRegions", "regions is empty.", 400)
    if len(raw) > MAX_REGION_BATCH:
        raise AzureError("BadRequestExceededBatchSize", f"At most {MAX_REGION_BATCH} regions per batch.", 400)
    entries = [
        RegionEntry(
            image_id=wire.parse_guid(wire.body_field(e, "imageId"), what="imageId"),
            tag_id=wire.parse_guid(wire.body_field(e, "tagId"), what="tagId"),
            **{k: _number(e, k) for k in ("left", "top", "width", "height")},
        )
        for e in raw
    ]
    created, duplicated, exceeded = regions_create(project=project, entries=entries)
    regions = Region.objects.filter(id__in=[r.id for r in created]).select_related("tag")
    by_id = {r.id: r for r in regions}
    body_out = {
        "created": [
            {
                "imageId": str(r.image_id),
                "regionId": str(r.id),
                "tagName": r.tag.name,
                "created": wire.iso(r.created),
                "tagId": str(r.tag_id),
                "left": r.left,
                "top": r.top,
                "width": r.width,
                "height": r.height,
            }
            for r in (by_id.get(c.id, c) for c in created)
        ],
        "duplicated": [_entry_json(e) for e in duplicated],
        "exceeded": [_entry_json(e) for e in exceeded],
    }
    return wire.respond(body_out, status=207 if duplicated or exceeded else 200)


@training_key_required
def delete_image_regions(request: HttpRequest, project_id: str) -> HttpResponse:
    project = project_for(request, project_id)
    ids = wire.query_guids(request, "regionIds", limit=MAX_REGION_BATCH, missing_code="BadRequestInvalidIds")
    for region in Region.objects.filter(id__in=ids, image__project=project):
        region_delete(region=region)
    return wire.no_content()


@training_key_required
def get_image_region_proposals(request: HttpRequest, project_id: str, image_id: str) -> HttpResponse:
    """Class-agnostic region proposals (labeling.proposals: the current detector's boxes, or a generic method)."""
    from labeling.proposals import proposals_for

    project = project_for(request, project_id)
    image = project.images.filter(id=wire.parse_guid(image_id, code="NotFoundImage", what="image", status=404)).first()
    if image is None:
        raise AzureError("NotFoundImage", f"Image {image_id} not found.", 404)
    proposals = [p.to_json() for p in proposals_for(image=image)]
    return wire.respond({"projectId": str(project.id), "imageId": str(image.id), "proposals": proposals})
