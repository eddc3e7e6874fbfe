"""Azure Custom Vision Training API for iterations: train, get/update/delete, performance, publish."""

from __future__ import annotations

import uuid
from typing import Any

from django.http import HttpRequest, HttpResponse

from portal.azure import wire
from portal.azure.auth import training_key_required
from portal.azure.errors import AzureError
from projects.api import project_for
from projects.domains import domain_of
from projects.models import Image, Project
from training import selectors, services
from workspaces.access import user_of

# ---------------------------------------------------------------- writers


def iteration_status(iteration: Any) -> str:
    """Azure's three words: queued and running are both ``Training``; a cancelled run is ``Failed``."""
    return {"Training": "Training", "Completed": "Completed"}.get(iteration.status, "Failed")


def iteration_json(iteration: Any) -> dict[str, Any]:
    minutes = 0
    if iteration.started and iteration.finished:
        minutes = int(round((iteration.finished - iteration.started).total_seconds() / 60))
    status = iteration_status(iteration)
    domain = domain_of(iteration.domain_id)
    platforms = list(domain.export_platforms) if domain and status == "Completed" else []
    return {
        "id": str(iteration.id),
        "name": iteration.name,
        "status": status,
        "created": wire.iso(iteration.created),
        "lastModified": wire.iso(iteration.modified),
        "trainedAt": wire.iso(iteration.finished) if status == "Completed" else None,
        "projectId": str(iteration.project_id),
        "exportable": bool(platforms),
        "exportableTo": platforms,
        "domainId": str(iteration.domain_id),
        "classificationType": iteration.classification_type or None,
        "trainingType": iteration.training_type,
        "reservedBudgetInHours": (iteration.budget_minutes or 0) // 60,
        "trainingTimeInMinutes": minutes,
        "publishName": iteration.publish_name,
        "originalPublishResourceId": None,
        "customBaseModelInfo": None,
        "trainingErrorDetails": (iteration.error or iteration.status) if status == "Failed" else None,
    }


def iteration_for(project: Project, iteration_id: str) -> Any:
    iteration = wire.child_or_404(project.iterations, iteration_id, code="NotFoundIteration", what="Iteration")
    return selectors.iteration_current(iteration=iteration)


def _tag_ids(iteration: Any) -> dict[str, str]:
    """Tag name -> id as the iteration was trained (snapshot), for metrics keyed by name."""
    return {t["name"]: str(t["id"]) for t in (iteration.snapshot or {}).get("tags", ())}


# ---------------------------------------------------------------- iterations


@training_key_required
def train_project(request: HttpRequest, project_id: str) -> HttpResponse:
    project = project_for(request, project_id)
    body = wire.json_body(request)  # TrainingParameters (v3.3+); customBaseModelInfo is not supported: ignored
    training_type = (wire.query_str(request, "trainingType") or "Regular").strip()
    matched = next((t for t in ("Regular", "Advanced") if t.lower() == training_type.lower()), None)
    if matched is None:
        raise AzureError("BadRequestInvalidTrainingType", "trainingType must be Regular or Advanced.", 400)
    hours = wire.query_int(request, "reservedBudgetInHours", 0, minimum=0, maximum=24 * 7)
    if matched == "Advanced" and hours == 0:
        hours = 1  # Azure's portal default for advanced training
    iteration = services.iteration_queue(
        project=project,
        requested_by=user_of(request.user),  # None for a key: the audit log says "Training Key N"
        training_type=matched,
        budget_minutes=hours * 60,
        force=wire.query_bool(request, "forceTrain"),
        selected_tag_ids=_selected_tags(request, body),
        notification_email=wire.query_str(request, "notificationEmailAddress") or "",
    )
    return wire.respond(iteration_json(iteration))


def _selected_tags(request: HttpRequest, body: dict[str, Any] | None) -> list[uuid.UUID]:
    """selectedTags from the query (comma-separated GUIDs) and/or TrainingParameters.selectedTags in the body."""
    raw = wire.body_field(body, "selectedTags")
    if raw is not None and (not isinstance(raw, list) or not all(isinstance(t, str) for t in raw)):
        raise AzureError("BadRequestInvalidIds", "selectedTags must be a list of tag ids.", 400)
    ids = wire.query_guids(request, "selectedTags") + wire.parse_guids(raw or (), what="selectedTags")
    return list(dict.fromkeys(ids))


@training_key_required
def get_iterations(request: HttpRequest, project_id: str) -> HttpResponse:
    project = project_for(request, project_id)
    iterations = selectors.iteration_list(project=project)
    return wire.respond([iteration_json(i) for i in iterations])


@training_key_required
def get_iteration(request: HttpRequest, project_id: str, iteration_id: str) -> HttpResponse:
    return wire.respond(iteration_json(iteration_for(project_for(request, project_id), iteration_id)))


@training_key_required
def update_iteration(request: HttpRequest, project_id: str, iteration_id: str) -> HttpResponse:
    iteration = iteration_for(project_for(request, project_id), iteration_id)
    body = wire.json_body(request, required=True)
    name = wire.body_field(body, "name")
    if name is not None:
        if not isinstance(name, str):
            raise AzureError("BadRequestIterationName", "name must be a string.", 400)
        iteration = services.iteration_rename(iteration=iteration, name=name)
    return wire.respond(iteration_json(iteration))


@training_key_required
def delete_iteration(request: HttpRequest, project_id: str, iteration_id: str) -> HttpResponse:
    iteration = iteration_for(project_for(request, project_id), iteration_id)
    services.iteration_delete(iteration=iteration)
    return wire.no_content()


# ---------------------------------------------------------------- publish


@training_key_required
def publish_iteration(request: HttpRequest, project_id: str, iteration_id: str) -> HttpResponse:
    iteration = iteration_for(project_for(request, project_id), iteration_id)
    publish_name = wire.query_str(request, "publishName")
    if not publish_name:
        raise AzureError("BadRequestInvalidPublishName", "publishName is required.", 400)
    if not wire.query_str(request, "predictionId"):
        raise AzureError("BadRequestInvalidPublishTarget", "predictionId is required.", 400)
    services.iteration_publish(
        iteration=iteration, publish_name=publish_name, overwrite=wire.query_bool(request, "overwrite")
    )
    return wire.respond(True)


@training_key_required
def unpublish_iteration(request: HttpRequest, project_id: str, iteration_id: str) -> HttpResponse:
    iteration = iteration_for(project_for(request, project_id), iteration_id)
    services.iteration_unpublish(iteration=iteration)
    return wire.no_content()


# ---------------------------------------------------------------- performance


def _performance(iteration: Any, threshold: float, overlap: float) -> dict[str, Any]:
    if iteration_status(iteration) != "Completed":
        raise AzureError("BadRequestIterationIsNotTrained", f"{iteration.name} is not trained.", 400)
    perf = selectors.iteration_performance(
        iteration=iteration, threshold=threshold, iou_threshold=overlap
    )
    if perf is None:
        raise AzureError("NotFoundIterationPerformance", "This iteration has no performance data.", 404)
    return perf


def _f(value: Any) -> float:
    try:
        return float(value or 0.0)
    except (TypeError, ValueError):
        return 0.0


@training_key_required
def get_iteration_performance(request: HttpRequest, project_id: str, iteration_id: str) -> HttpResponse:
    iteration = iteration_for(project_for(request, project_id), iteration_id)
    threshold = wire.query_float(request, "threshold", 0.5)
    overlap = wire.query_float(request, "overlapThreshold", 0.3)
    perf = _performance(iteration, threshold, overlap)
    ids = _tag_ids(iteration)
    overall = perf.get("overall") or {}
    return wire.respond(
        {
            "perTagPerformance": [
                {
                    "id": ids.get(row.get("tag", ""), None),
                    "name": row.get("tag"),
                    "precision": _f(row.get("precision")),
                    "precisionStdDeviation": _f(row.get("precision_std")),  # over k-fold folds, else 0
                    "recall": _f(row.get("recall")),
                    "recallStdDeviation": _f(row.get("recall_std")),
                    "averagePrecision": _f(row.get("ap")),
                }
                for row in perf.get("per_tag") or ()
            ],
            "precision": _f(overall.get("precision")),
            "precisionStdDeviation": _f(overall.get("precision_std")),
            "recall": _f(overall.get("recall")),
            "recallStdDeviation": _f(overall.get("recall_std")),
            "averagePrecision": _f(overall.get("ap")),
        }
    )


def _validation_images(request: HttpRequest, iteration: Any) -> list[dict[str, Any]]:
    """Validation images of the iteration (the held-out set its performance is measured on), filtered by tagIds."""
    if iteration_status(iteration) != "Completed":
        raise AzureError("BadRequestIterationIsNotTrained", f"{iteration.name} is not trained.", 400)
    wanted = {str(t) for t in wire.query_guids(request, "tagIds", limit=20)}
    names = _tag_ids(iteration)
    items = []
    for vp in (iteration.metrics or {}).get("validation_predictions", ()):
        true_ids = {names.get(t, t) for t in vp.get("tags", ())} | {
            names.get(b.get("tag"), "") for b in vp.get("boxes", ())
        }
        if wanted and not (wanted & true_ids):
            continue
        items.append(vp)
    if (wire.query_str(request, "orderBy") or "Newest").lower() == "oldest":
        items.reverse()
    return items


def _prediction(name: str, probability: float, ids: dict[str, str], box: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "probability": probability,
        "tagId": ids.get(name),
        "tagName": name,
        "boundingBox": None if not box else {k: _f(box.get(k)) for k in ("left", "top", "width", "height")},
        "tagType": "Regular",
    }


@training_key_required
def get_image_performances(request: HttpRequest, project_id: str, iteration_id: str) -> HttpResponse:
    from projects.api import image_json, with_relations

    project = project_for(request, project_id)
    iteration = iteration_for(project, iteration_id)
    skip, take = wire.paging(request)
    page = _validation_images(request, iteration)[skip : skip + take]
    ids = _tag_ids(iteration)
    valid = []
    for vp in page:
        try:
            valid.append(uuid.UUID(str(vp.get("id"))))
        except ValueError:
            continue
    images = {str(i.id): i for i in with_relations(Image.objects.filter(project=project, id__in=valid))}
    out = []
    for vp in page:
        image = images.get(str(vp.get("id")))
        wire_image = image_json(request, image) if image is not None else {}
        out.append(
            {
                "predictions": [
                    _prediction(p["tag"], _f(p.get("probability")), ids, p.get("box"))
                    for p in sorted(vp.get("predictions", ()), key=lambda p: -_f(p.get("probability")))
                ],
                "id": str(vp.get("id")),
                "created": wire_image.get("created"),
                "width": wire_image.get("width"),
                "height": wire_image.get("height"),
                "imageUri": wire_image.get("originalImageUri"),
                "thumbnailUri": wire_image.get("thumbnailUri"),
                "tags": wire_image.get("tags", []),
                "regions": wire_image.get("regions", []),
            }
        )
    return wire.respond(out)


@training_key_required
def get_image_performance_count(request: HttpRequest, project_id: str, iteration_id: str) -> HttpResponse:
    iteration = iteration_for(project_for(request, project_id), iteration_id)
    return wire.respond(len(_validation_images(request, iteration)))


# ---------------------------------------------------------------- artifacts


@training_key_required
def get_artifact(request: HttpRequest, project_id: str) -> HttpResponse:
    project_for(request, project_id)
    if not wire.query_str(request, "path"):
        raise AzureError("BadRequest", "path is required.", 400)
    raise AzureError("NotFound", "No such artifact.", 404)
