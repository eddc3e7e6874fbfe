"""Azure Custom Vision Prediction API (classify/detect image/url, with and without store) and Training's Quick Test."""

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
from projects.api import project_for
from projects.models import Project
from training.api import iteration_for, iteration_status

logger = logging.getLogger(__name__)


def _predictor(iteration: Any) -> Any:
    """The loaded model of an iteration, from the prediction service's shared LRU (training.predictions)."""
    from training.predictions import predictor_get

    return predictor_get(iteration=iteration)


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
    tag_ids = {t["name"]: str(t["id"]) for t in (iteration.snapshot or {}).get("tags", ())}
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
    from training.predictions import prediction_run

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
    project = project_for(request, project_id)
    iteration = project.iterations.filter(publish_name=publish_name).first()
    if iteration is None:
        raise AzureError("NotFound", f"No iteration of this project is published as {publish_name!r}.", 404)
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
