"""Azure Custom Vision Training API for domains, projects, tags and images: wire in, services/selectors, wire out."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from typing import Any

from django.core import signing
from django.db.models import Count, QuerySet
from django.http import Http404, HttpRequest, HttpResponse

from portal.azure import wire
from portal.azure.auth import training_key_required
from portal.azure.errors import AzureError
from portal.azure.media import media_uri
from projects import services
from projects.copying import project_copy
from projects.domains import DOMAINS, DOMAINS_BY_ID, OBJECT_DETECTION, Domain
from projects.iteration_data import IterationData, TrainedImage, TrainedTag, iteration_data
from projects.models import Image, Project, Tag
from projects.selectors import project_get_for, project_list_for, tag_list

logger = logging.getLogger(__name__)

# ---------------------------------------------------------------- writers (camelCase, as Azure's models)


def domain_json(domain: Domain) -> dict[str, Any]:
    return {
        "id": str(domain.id),
        "name": domain.name,
        "type": domain.type,
        "exportable": domain.exportable,
        "enabled": True,
        "exportablePlatforms": list(domain.export_platforms),
        "modelInformation": {"estimatedModelSizeInMegabytes": 0, "description": domain.description},
    }


def project_json(project: Project) -> dict[str, Any]:
    return {
        "id": str(project.id),
        "name": project.name,
        "description": project.description or "",
        "settings": {
            "domainId": str(project.domain_id),
            "classificationType": None if project.is_detection else project.classification_type,
            "targetExportPlatforms": [],
            "useNegativeSet": not project.is_detection,
            "detectionParameters": None,
            "imageProcessingSettings": {"augmentationMethods": {}},
            "exportModelContainerUri": None,
            "notificationQueueUri": None,
        },
        "created": wire.iso(project.created),
        "lastModified": wire.iso(project.modified),
        "thumbnailUri": None,
        "drModeEnabled": False,
        "status": "Succeeded",
    }


def trained_tag_json(tag: TrainedTag) -> dict[str, Any]:
    return {
        "id": str(tag.id),
        "name": tag.name,
        "description": tag.description,
        "type": tag.type,
        "imageCount": tag.image_count,
    }


def tag_json(tag: Tag, image_count: int | None = None) -> dict[str, Any]:
    count = image_count if image_count is not None else getattr(tag, "image_count", None)
    if count is None:
        count = tag.images.count()
    return {
        "id": str(tag.id),
        "name": tag.name,
        "description": tag.description or "",
        "type": tag.type,
        "imageCount": count,
    }


def image_json(request: HttpRequest, image: Image, trained: TrainedImage | None = None,
               tag_names: dict[uuid.UUID, str] | None = None) -> dict[str, Any]:
    """An Image; with ``trained`` (and the iteration's ``tag_names``), its tags and regions as that iteration
    was trained (a trained region keeps its id when the same box is still there)."""
    live = list(image.regions.all())  # labeling.Region's related_name
    if trained is None:
        tags = [(tag.id, tag.name) for tag in image.tags.all()]
        regions = [(r.id, r.created, r.tag_id, r.tag.name, r.left, r.top, r.width, r.height) for r in live]
    else:
        names = tag_names or {}
        tags = [(t, names.get(t, "")) for t in trained.tag_ids]
        same = {(r.tag_id, r.left, r.top, r.width, r.height): r for r in live}
        regions = []
        for box in trained.regions:
            coords = tuple(box[k] for k in ("left", "top", "width", "height"))
            match = same.get((box["tag"], *coords))
            regions.append((match.id if match else None, match.created if match else image.created, box["tag"],
                            names.get(box["tag"], ""), *coords))
    return {
        "id": str(image.id),
        "created": wire.iso(image.created),
        "width": image.width,
        "height": image.height,
        "resizedImageUri": media_uri(request, image, "display") or media_uri(request, image, "original"),
        "thumbnailUri": media_uri(request, image, "thumbnail"),
        "originalImageUri": media_uri(request, image, "original"),
        "tags": [{"tagId": str(t), "tagName": name, "created": wire.iso(image.created)} for t, name in tags],
        "regions": [
            {
                "regionId": str(region_id) if region_id else None,
                "tagName": tag_name,
                "created": wire.iso(created),
                "tagId": str(tag_id),
                "left": left,
                "top": top,
                "width": width,
                "height": height,
            }
            for region_id, created, tag_id, tag_name, left, top, width, height in regions
        ],
        "metadata": image.metadata or {},
    }


def with_relations(images: QuerySet[Image]) -> QuerySet[Image]:
    return images.prefetch_related("tags", "regions__tag")


# ---------------------------------------------------------------- lookups shared by the apps' api modules


def project_for(request: HttpRequest, project_id: str) -> Project:
    """A project of the key's workspace, or Azure's 404 (unknown ids and other workspaces' projects look the same)."""
    try:
        return project_get_for(user=request.user, project_id=project_id)
    except Http404:
        raise AzureError("NotFoundProject", f"Project {project_id} not found.", 404) from None


def iteration_data_for(request: HttpRequest, project: Project) -> IterationData | None:
    """Azure's optional ``iterationId``: None without one, else that iteration's tags and images as trained."""
    value = wire.query_str(request, "iterationId")
    if not value:
        return None
    iteration_id = wire.parse_guid(value, code="NotFoundIteration", what="iterationId", status=404)
    data = iteration_data(project=project, iteration_id=iteration_id)
    if data is None:
        raise AzureError("NotFoundIteration", f"Iteration {value} not found.", 404)
    return data


def tag_for(project: Project, tag_id: str) -> Tag:
    tag: Tag = wire.child_or_404(project.tags, tag_id, code="NotFoundTag", what="Tag")
    return tag


def tags_for(project: Project, tag_ids: Iterable[uuid.UUID]) -> list[Tag]:
    """Tags of this project by id, in order; an id of no tag of this project is a 400."""
    wanted = list(dict.fromkeys(tag_ids))
    found = {t.id: t for t in project.tags.filter(id__in=wanted)}
    missing = [str(t) for t in wanted if t not in found]
    if missing:
        raise AzureError("BadRequestInvalidIds", f"Unknown tag ids: {', '.join(missing)}.", 400)
    return [found[t] for t in wanted]


# ---------------------------------------------------------------- domains


@training_key_required
def get_domains(request: HttpRequest) -> HttpResponse:
    return wire.respond([domain_json(d) for d in DOMAINS])


@training_key_required
def get_domain(request: HttpRequest, domain_id: str) -> HttpResponse:
    domain = DOMAINS_BY_ID.get(wire.parse_guid(domain_id, code="NotFoundDomain", what="domain", status=404))
    if domain is None:
        raise AzureError("NotFoundDomain", f"Domain {domain_id} not found.", 404)
    return wire.respond(domain_json(domain))


# ---------------------------------------------------------------- projects


def _domain_from(value: Any) -> Domain | None:
    if value in (None, ""):
        return None
    domain = DOMAINS_BY_ID.get(wire.parse_guid(value, code="BadRequestProjectUnknownDomain", what="domainId"))
    if domain is None:
        raise AzureError("BadRequestProjectUnknownDomain", f"Unknown domain {value}.", 400)
    return domain


def _classification_type(value: Any) -> str | None:
    if value in (None, ""):
        return None
    for choice in Project.ClassificationType.values:
        if str(value).lower() == choice.lower():
            return str(choice)
    raise AzureError("BadRequestProjectUnknownClassification", f"Unknown classificationType {value!r}.", 400)


@training_key_required
def get_projects(request: HttpRequest) -> HttpResponse:
    return wire.respond([project_json(p) for p in project_list_for(user=request.user)])


@training_key_required
def create_project(request: HttpRequest) -> HttpResponse:
    wire.json_body(request)  # v3.4-preview's optional CreateProjectOptions: nothing in it applies here
    name = (wire.query_str(request, "name") or "").strip()
    if not name:
        raise AzureError("BadRequestProjectName", "name is required.", 400)
    domain = _domain_from(wire.query_str(request, "domainId"))
    classification_type = _classification_type(wire.query_str(request, "classificationType"))
    fields: dict[str, Any] = {"description": wire.query_str(request, "description") or ""}
    if domain is not None:
        fields["domain_id"] = domain.id
        fields["project_type"] = "detection" if domain.type == OBJECT_DETECTION else "classification"
    if classification_type:
        fields["classification_type"] = classification_type
    project = services.project_create(workspace=request.user.workspace_id, name=name, **fields)  # type: ignore[union-attr]
    return wire.respond(project_json(project))


@training_key_required
def get_project(request: HttpRequest, project_id: str) -> HttpResponse:
    return wire.respond(project_json(project_for(request, project_id)))


@training_key_required
def update_project(request: HttpRequest, project_id: str) -> HttpResponse:
    project = project_for(request, project_id)
    body = wire.json_body(request, required=True)
    fields: dict[str, Any] = {}
    name = wire.body_field(body, "name")
    if name is not None:
        if not isinstance(name, str) or not name.strip():
            raise AzureError("BadRequestProjectName", "name must be a non-empty string.", 400)
        fields["name"] = name.strip()
    description = wire.body_field(body, "description")
    if description is not None:
        fields["description"] = str(description)
    settings_ = wire.body_field(body, "settings") or {}
    if not isinstance(settings_, dict):
        raise AzureError("BadRequest", "settings must be an object.", 400)
    domain = _domain_from(wire.body_field(settings_, "domainId"))
    if domain is not None and domain.id != project.domain_id:
        fields["domain_id"] = domain.id
    classification_type = _classification_type(wire.body_field(settings_, "classificationType"))
    if classification_type and not project.is_detection and classification_type != project.classification_type:
        fields["classification_type"] = classification_type
    if fields:
        project = services.project_update(project=project, **fields) or project
        project.refresh_from_db()
    return wire.respond(project_json(project))


@training_key_required
def delete_project(request: HttpRequest, project_id: str) -> HttpResponse:
    project = project_for(request, project_id)
    services.project_delete(project=project)
    return wire.no_content()


EXPORT_SALT = "tagsight.azure.project-export"
EXPORT_MAX_AGE_SECONDS = 7 * 24 * 3600


@training_key_required
def export_project(request: HttpRequest, project_id: str) -> HttpResponse:
    """ProjectExport: counts and a signed token naming the project (valid a week) for import_project."""
    project = project_for(request, project_id)
    images = project.images.count()
    token = signing.dumps({"p": str(project.id), "w": str(project.workspace_id)}, salt=EXPORT_SALT, compress=True)
    return wire.respond(
        {
            "iterationCount": project.iterations.count(),
            "imageCount": images,
            "tagCount": project.tags.count(),
            "regionCount": project.images.aggregate(n=Count("regions"))["n"],  # labeling.Region's related_name
            "estimatedImportTimeInMS": images * 50,
            "token": token,
        }
    )


@training_key_required
def import_project(request: HttpRequest) -> HttpResponse:
    """A copy of an exported project (tags, images, regions, metadata; not iterations) in the key's workspace, made
    by ``projects.copying`` (all or nothing). As on Azure, the signed token is the permission: whoever was given it
    may import the project (for a week)."""
    token = wire.query_str(request, "token") or ""
    try:
        payload = signing.loads(token, salt=EXPORT_SALT, max_age=EXPORT_MAX_AGE_SECONDS)
        source = Project.objects.get(id=payload["p"], workspace_id=payload["w"])
    except (signing.BadSignature, KeyError, TypeError, ValueError, Project.DoesNotExist):
        raise AzureError("BadRequestInvalidImportToken", "The import token is invalid or has expired.", 400) from None
    name = (wire.query_str(request, "name") or source.name).strip()
    project = project_copy(source=source, workspace=request.user.workspace_id, name=name)  # type: ignore[union-attr]
    return wire.respond(project_json(project))


# ---------------------------------------------------------------- tags


def _tag_type(value: Any) -> str | None:
    if value in (None, ""):
        return None
    for choice in ("Regular", "Negative", "GeneralProduct"):
        if str(value).lower() == choice.lower():
            return choice
    raise AzureError("BadRequest", f"Unknown tag type {value!r}: Regular, Negative or GeneralProduct.", 400)


@training_key_required
def get_tags(request: HttpRequest, project_id: str) -> HttpResponse:
    project = project_for(request, project_id)
    trained = iteration_data_for(request, project)
    if trained is not None:
        return wire.respond([trained_tag_json(t) for t in trained.tags])
    return wire.respond([tag_json(t) for t in tag_list(project=project)])


@training_key_required
def create_tag(request: HttpRequest, project_id: str) -> HttpResponse:
    project = project_for(request, project_id)
    name = (wire.query_str(request, "name") or "").strip()
    if not name:
        raise AzureError("BadRequestTagName", "name is required.", 400)
    fields: dict[str, Any] = {"description": wire.query_str(request, "description") or ""}
    tag_type = _tag_type(wire.query_str(request, "type"))
    if tag_type:
        fields["type"] = tag_type
    tag = services.tag_create(project=project, name=name, **fields)
    return wire.respond(tag_json(tag, image_count=0))


@training_key_required
def get_tag(request: HttpRequest, project_id: str, tag_id: str) -> HttpResponse:
    project = project_for(request, project_id)
    trained = iteration_data_for(request, project)
    if trained is not None:
        found = trained.tag(wire.parse_guid(tag_id, code="NotFoundTag", what="Tag", status=404))
        if found is None:
            raise AzureError("NotFoundTag", f"Tag {tag_id} is not in that iteration.", 404)
        return wire.respond(trained_tag_json(found))
    tag = tag_for(project, tag_id)
    return wire.respond(tag_json(tag_list(project=project).get(id=tag.id)))


@training_key_required
def update_tag(request: HttpRequest, project_id: str, tag_id: str) -> HttpResponse:
    project = project_for(request, project_id)
    tag = tag_for(project, tag_id)
    body = wire.json_body(request, required=True)
    name = wire.body_field(body, "name")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise AzureError("BadRequestTagName", "name must be a non-empty string.", 400)
    description = wire.body_field(body, "description")
    services.tag_update(
        tag=tag,
        name=name.strip() if name else None,
        description=None if description is None else str(description),
        type=_tag_type(wire.body_field(body, "type")),
    )
    return wire.respond(tag_json(tag_list(project=project).get(id=tag.id)))


@training_key_required
def delete_tag(request: HttpRequest, project_id: str, tag_id: str) -> HttpResponse:
    tag = tag_for(project_for(request, project_id), tag_id)
    services.tag_delete(tag=tag)
    return wire.no_content()
