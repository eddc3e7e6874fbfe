"""Azure Custom Vision API of the prediction side.

Prediction API: classify/detect image/url, with and without store. Training API: Quick Test, exports, stored
predictions (query, delete, add to training). The Smart Labeler's suggestion endpoints are health.suggestions_api.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from portal.azure import wire
from portal.azure.auth import prediction_key_required, training_key_required
from portal.azure.errors import AzureError
from portal.azure.multipart import image_parts
from predictions.exports import export_list, export_request
from predictions.services import (
    iteration_tag_ids,
    prediction_add_to_training,
    prediction_list,
    prediction_run,
    predictions_delete,
)
from projects.api import project_for
from projects.models import Project
from training.api import iteration_for, iteration_status
from training.selectors import iteration_published_get

MAX_PREDICTION_IDS = 64

logger = logging.getLogger(__name__)


def _field(obj: Any, *names: str) -> Any:
    for name in names:
        if isinstance(obj, dict) and name in obj:
            return obj[name]
        if hasattr(obj, name):
            return getattr(obj, name)
    return None


def _box(value: Any) -> dict[str, float] | None:
    if value is None:
        return None
    coords = [_field(value, k) for k in ("left", "top", "width", "height")]
    if any(c is None for c in coords):
        return None
    left, top, width, height = (min(1.0, max(0.0, float(c))) for c in coords)
    return {"left": left, "top": top, "width": min(width, 1.0 - left), "height": min(height, 1.0 - top)}


def image_prediction_json(project: Project, iteration: Any, predictions: Any) -> dict[str, Any]:
    """ImagePrediction: one entry per tag (classification) or box (detection), by probability, descending."""
    tag_ids = iteration_tag_ids(iteration=iteration) if iteration is not None else {}
    rows: list[dict[str, Any]] = []
    for p in predictions:
        name = str(_field(p, "tag", "tag_name", "label", "name"))
        rows.append(
            {
                "probability": float(_field(p, "probability", "score") or 0.0),
                "tagId": tag_ids.get(name),
                "tagName": name,
                "boundingBox": _box(_field(p, "box", "bounding_box", "boundingBox")),
                "tagType": "Regular",
            }
        )
    rows.sort(key=lambda r: -r["probability"])
    return {
        "id": str(uuid.uuid4()),
        "project": str(project.id),
        "iteration": str(iteration.id),
        "created": wire.iso(timezone.now()),
        "predictions": rows,
    }


def _run(
    project: Project,
    iteration: Any,
    data: bytes,
    *,
    limit: int | None = None,
    store: bool = True,
    source: str = "api",
    application: str = "",
) -> HttpResponse:
    result = prediction_run(
        project=project,
        iteration=iteration,
        data=data,
        store=store,
        source=source,
        application=application,
        max_bytes=limit,
    )
    body = image_prediction_json(project, iteration, result.predictions)
    body.update(id=str(result.id), created=wire.iso(result.created))
    return wire.respond(body)


def _url_bytes(request: HttpRequest) -> bytes:
    from projects.fetch import FetchError, fetch_image

    body = wire.json_body(request, required=True)
    url = wire.body_field(body, "url")
    if not isinstance(url, str) or not url.strip():
        raise AzureError("BadRequestImageUrl", "url is required.", 400)
    try:
        return fetch_image(url.strip())
    except FetchError as exc:
        code = {"ErrorImageSize": "BadRequestImageSizeBytes", "ErrorImageFormat": "BadRequestImageFormat"}.get(
            exc.status, "BadRequestImageUrl"
        )
        raise AzureError(code, exc.message, 400) from None


# ---------------------------------------------------------------- Prediction API


def _published(request: HttpRequest, project_id: str, task: str, publish_name: str) -> tuple[Project, Any]:
    try:
        iteration = iteration_published_get(user=request.user, project_id=uuid.UUID(project_id),
                                            publish_name=publish_name)
    except ValueError:
        iteration = None
    if iteration is None:
        project_for(request, project_id)  # an unknown project is its own error (NotFoundProject)
        raise AzureError("NotFound", f"No iteration of this project is published as {publish_name!r}.", 404)
    project = iteration.project
    wanted = "detect" if project.is_detection else "classify"
    if task.lower() != wanted:
        raise AzureError(
            "BadRequest",
            f"This is a {'detection' if project.is_detection else 'classification'} project: use /{wanted}/.",
            400,
        )
    return project, iteration


def _image(request: HttpRequest, project_id: str, task: str, publish_name: str, *, store: bool = True) -> HttpResponse:
    project, iteration = _published(request, project_id, task, publish_name)
    application = wire.query_str(request, "application") or ""
    return _run(project, iteration, bytes(image_parts(request)[0]), store=store, application=application)


def _url(request: HttpRequest, project_id: str, task: str, publish_name: str, *, store: bool = True) -> HttpResponse:
    project, iteration = _published(request, project_id, task, publish_name)
    application = wire.query_str(request, "application") or ""
    return _run(project, iteration, _url_bytes(request), store=store, application=application)


@prediction_key_required
def predict_image(request: HttpRequest, project_id: str, task: str, publish_name: str) -> HttpResponse:
    return _image(request, project_id, task, publish_name)


@prediction_key_required
def predict_image_nostore(request: HttpRequest, project_id: str, task: str, publish_name: str) -> HttpResponse:
    return _image(request, project_id, task, publish_name, store=False)


@prediction_key_required
def predict_url(request: HttpRequest, project_id: str, task: str, publish_name: str) -> HttpResponse:
    return _url(request, project_id, task, publish_name)


@prediction_key_required
def predict_url_nostore(request: HttpRequest, project_id: str, task: str, publish_name: str) -> HttpResponse:
    return _url(request, project_id, task, publish_name, store=False)


# ---------------------------------------------------------------- Quick Test (Training API)


def _quick_test_iteration(request: HttpRequest, project: Project) -> Any:
    value = wire.query_str(request, "iterationId")
    if value:
        iteration = iteration_for(project, value)
    else:
        iteration = project.iterations.filter(status="Completed").order_by("-number").first()
        if iteration is None:
            raise AzureError("NotFoundProjectDefaultIteration", "The project has no trained iteration.", 404)
    if iteration_status(iteration) != "Completed":
        raise AzureError("BadRequestIterationIsNotTrained", f"{iteration.name} is not trained.", 400)
    wire.query_bool(request, "store", True)
    return iteration


@training_key_required
def quick_test_image(request: HttpRequest, project_id: str) -> HttpResponse:
    project = project_for(request, project_id)
    iteration = _quick_test_iteration(request, project)
    return _run(
        project,
        iteration,
        bytes(image_parts(request)[0]),
        limit=settings.TAGSIGHT_MAX_IMAGE_BYTES,
        store=wire.query_bool(request, "store", True),
        source="quicktest",
    )


@training_key_required
def quick_test_image_url(request: HttpRequest, project_id: str) -> HttpResponse:
    project = project_for(request, project_id)
    iteration = _quick_test_iteration(request, project)
    return _run(
        project,
        iteration,
        _url_bytes(request),
        limit=settings.TAGSIGHT_MAX_IMAGE_BYTES,
        store=wire.query_bool(request, "store", True),
        source="quicktest",
    )


# ---------------------------------------------------------------- exports (Training API)


def export_json(request: HttpRequest, export: Any) -> dict[str, Any]:
    from portal.azure.media import export_uri

    return {
        "platform": export.platform,
        "status": export.status,
        "downloadUri": export_uri(request, export) if export.status == "Done" else None,
        "flavor": export.flavor or None,
        "newerVersionAvailable": False,
    }


@training_key_required
def get_exports(request: HttpRequest, project_id: str, iteration_id: str) -> HttpResponse:
    iteration = iteration_for(project_for(request, project_id), iteration_id)
    exports = export_list(iteration=iteration)
    return wire.respond([export_json(request, e) for e in exports])


@training_key_required
def export_iteration(request: HttpRequest, project_id: str, iteration_id: str) -> HttpResponse:
    iteration = iteration_for(project_for(request, project_id), iteration_id)
    platform = wire.query_str(request, "platform") or ""
    if not platform:
        raise AzureError("BadRequest", "The platform query parameter is required.", 400)
    # The export service decides what is supported (platform, flavor, trained iteration); its errors carry
    # Azure's codes and translate_errors answers them.
    export = export_request(iteration=iteration, platform=platform, flavor=wire.query_str(request, "flavor") or "")
    return wire.respond(export_json(request, export))


# ---------------------------------------------------------------- stored predictions and suggestions (Training API)


@training_key_required
def create_images_from_predictions(request: HttpRequest, project_id: str) -> HttpResponse:
    from projects.api import image_json, tags_for, with_relations
    from projects.services import metadata_clean

    project = project_for(request, project_id)
    body = wire.json_body(request, required=True)
    entries = wire.body_field(body, "images") or []
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries) or not entries:
        raise AzureError("BadRequestImageBatch", "images must be a non-empty list of {id, tagIds, regions}.", 400)
    if len(entries) > 64:
        raise AzureError("BadRequestImageBatch", "At most 64 images per batch.", 400)
    batch_tags = wire.parse_guids(wire.body_field(body, "tagIds") or [], what="tagIds")
    metadata = metadata_clean(wire.body_field(body, "metadata") or {}, new_image=True)
    stored = {p.id: p for p in project.stored_predictions.all()}
    results: list[dict[str, Any]] = []
    for entry in entries:
        pid = wire.parse_guid(wire.body_field(entry, "id"), what="id")
        tags = tags_for(project, batch_tags + wire.parse_guids(wire.body_field(entry, "tagIds") or [], what="tagIds"))
        regions = [
            {
                "tag": tags_for(project, [wire.parse_guid(wire.body_field(r, "tagId"), what="tagId")])[0],
                **{k: wire.body_field(r, k) for k in ("left", "top", "width", "height")},
            }
            for r in (wire.body_field(entry, "regions") or [])
            if isinstance(r, dict)
        ]
        prediction = stored.get(pid)
        if prediction is None:
            results.append({"sourceUrl": None, "status": "ErrorSource", "image": None})
            continue
        try:
            result = prediction_add_to_training(
                prediction=prediction, tags=[t.id for t in tags], regions=regions, metadata=metadata
            )
        except Exception as exc:
            if not getattr(exc, "code", None):
                raise
            results.append({"sourceUrl": None, "status": "ErrorUnknown", "image": None})
            continue
        image = with_relations(project.images.filter(id=result.image.id)).get()
        results.append({"sourceUrl": None, "status": result.status, "image": image_json(request, image)})
    ok = all(r["status"] == "OK" for r in results)
    return wire.respond({"isBatchSuccessful": ok, "images": results}, status=200 if ok else 207)


@training_key_required
def delete_prediction(request: HttpRequest, project_id: str) -> HttpResponse:
    project = project_for(request, project_id)
    ids = wire.query_guids(request, "ids", limit=MAX_PREDICTION_IDS, missing_code="BadRequestPredictionIdsMissing")
    predictions_delete(project=project, prediction_ids=ids)
    return wire.no_content()


def stored_prediction_json(request: HttpRequest, project: Project, prediction: Any) -> dict[str, Any]:
    from portal.azure.media import prediction_uri
    body = (
        image_prediction_json(project, prediction.iteration, prediction.predictions)
        if prediction.iteration
        else {"predictions": []}
    )
    return {
        "resizedImageUri": prediction_uri(request, prediction, "file"),
        "thumbnailUri": prediction_uri(request, prediction, "thumbnail"),
        "originalImageUri": prediction_uri(request, prediction, "file"),
        "domain": str(project.domain_id),
        "id": str(prediction.id),
        "project": str(project.id),
        "iteration": str(prediction.iteration_id) if prediction.iteration_id else None,
        "created": wire.iso(prediction.created),
        "predictions": body["predictions"],
    }


def _token_float(token: dict[str, Any], tag: dict[str, Any], name: str) -> float | None:
    value = wire.body_field(tag, name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise AzureError("BadRequestPredictionInvalidQueryParameters", f"{name} must be between 0 and 1.", 400)
    return float(value)


@training_key_required
def query_predictions(request: HttpRequest, project_id: str) -> HttpResponse:
    """PredictionQueryResult: stored predictions filtered by the token (iteration, <= 2 tags, time, application)."""
    import datetime as dt

    project = project_for(request, project_id)
    token = wire.json_body(request) or {}
    tags = wire.body_field(token, "tags") or []
    if not isinstance(tags, list) or len(tags) > 2 or not all(isinstance(t, dict) for t in tags):
        raise AzureError("BadRequestPredictionTagsExceededCount", "At most 2 tags per query.", 400)
    iteration_id = wire.body_field(token, "iterationId")
    filters: dict[str, Any] = {}
    if iteration_id:
        filters["iteration_id"] = wire.parse_guid(iteration_id, what="iterationId")
    if tags:
        names = {str(t.id): t.name for t in project.tags.all()}
        tag_id = str(wire.parse_guid(wire.body_field(tags[0], "id"), what="tags.id"))
        filters.update(
            tag=names.get(tag_id, f"<unknown tag {tag_id}>"),
            min_probability=_token_float(token, tags[0], "minThreshold"),
            max_probability=_token_float(token, tags[0], "maxThreshold"),
        )
    order = {"newest": "newest", "oldest": "oldest", "suggested": "uncertain"}.get(
        str(wire.body_field(token, "orderBy") or "Newest").lower(), "newest"
    )
    qs = prediction_list(project=project, order=order, **filters)
    for name, lookup in (("startTime", "created__gte"), ("endTime", "created__lte")):
        value = wire.body_field(token, name)
        if value:
            try:
                qs = qs.filter(**{lookup: dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))})
            except ValueError:
                raise AzureError(
                    "BadRequestPredictionInvalidQueryParameters", f"{name} is not ISO-8601.", 400
                ) from None
    application = wire.body_field(token, "application")
    if application:
        qs = qs.filter(application=str(application))
    try:
        skip = int(wire.body_field(token, "continuation") or 0)
        take = min(max(int(wire.body_field(token, "maxCount") or 50), 1), 256)
        if skip < 0:
            raise ValueError(skip)
    except (TypeError, ValueError, OverflowError):
        raise AzureError(
            "BadRequestPredictionInvalidQueryParameters", "continuation/maxCount are invalid.", 400
        ) from None
    page = list(qs[skip : skip + take + 1])
    more = len(page) > take
    out_token = {**token, "continuation": str(skip + take) if more else None, "maxCount": take}
    return wire.respond(
        {"token": out_token, "results": [stored_prediction_json(request, project, p) for p in page[:take]]}
    )
