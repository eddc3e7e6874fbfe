"""Azure Custom Vision Training API of the Smart Labeler: suggested images, their counts, tags and regions.

Thin handlers over health.suggestions: suggestions are stored per (iteration, image) and reused, computed for
the images that have none yet, over every untagged image (no cap).
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse

from health.suggestions import SuggestionError, suggestions_for, untagged_images
from portal.azure import wire
from portal.azure.auth import training_key_required
from portal.azure.errors import AzureError
from predictions.api import image_prediction_json
from projects.api import project_for
from projects.models import Project
from training.api import iteration_for, iteration_status
from training.models import Iteration

MAX_TAKE = 256  # results per page of a query (the scan itself covers every untagged image)


def _iteration(request: HttpRequest, project: Project) -> Iteration:
    iteration: Iteration = iteration_for(project, wire.query_str(request, "iterationId") or "")
    if iteration_status(iteration) != "Completed":
        raise AzureError("BadRequestIterationIsNotTrained", f"{iteration.name} is not trained.", 400)
    return iteration


def _predictions(project: Project, iteration: Iteration, images: list[Any]) -> dict[Any, list[dict[str, Any]]]:
    """{image id: the Azure Prediction list}, from the stored suggestions (computed where missing)."""
    try:
        found = suggestions_for(iteration=iteration, images=images)
    except SuggestionError as exc:
        raise AzureError(exc.code, exc.message, 400) from None
    return {i: image_prediction_json(project, iteration, preds)["predictions"] for i, preds in found.items()}


def _tag_filter(project: Project, body: dict[str, Any] | None) -> tuple[dict[str, str], float]:
    """({tag id: tag name}, threshold) from a TagFilter / SuggestedTagAndRegionQueryToken body."""
    from projects.api import tags_for

    ids = wire.parse_guids(wire.body_field(body, "tagIds") or [], what="tagIds")
    threshold = wire.body_field(body, "threshold", 0.0)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 <= threshold <= 1:
        raise AzureError("BadRequest", "threshold must be a number between 0 and 1.", 400)
    tags = tags_for(project, ids) if ids else list(project.tags.all())
    return {str(t.id): t.name for t in tags}, float(threshold)


def _uncertainty(preds: list[dict[str, Any]]) -> float:
    top = preds[0]["probability"] if preds else 0.0
    return float(1 - abs(2 * top - 1))


@training_key_required
def query_suggested_images(request: HttpRequest, project_id: str) -> HttpResponse:
    """SuggestedTagAndRegionQuery over every untagged image, paged by continuation/maxCount."""
    from portal.azure.media import media_uri

    project = project_for(request, project_id)
    iteration = _iteration(request, project)
    token = wire.json_body(request) or {}
    names, threshold = _tag_filter(project, token)
    try:
        skip = int(wire.body_field(token, "continuation") or 0)
        take = min(max(int(wire.body_field(token, "maxCount") or 50), 1), MAX_TAKE)
        if skip < 0:
            raise ValueError(skip)
    except (TypeError, ValueError, OverflowError):
        raise AzureError("BadRequest", "continuation/maxCount are invalid.", 400) from None
    images = list(untagged_images(project=project))
    predictions = _predictions(project, iteration, images)
    rows = []
    for image in images:
        preds = predictions[image.id]
        if any(p["tagId"] in names and p["probability"] >= threshold for p in preds):
            rows.append((_uncertainty(preds), image, preds))
    descending = str(wire.body_field(token, "sortBy") or "UncertaintyDescending").lower() != "uncertaintyascending"
    rows.sort(key=lambda r: r[0], reverse=descending)
    page = rows[skip : skip + take]
    results = [
        {
            "width": image.width,
            "height": image.height,
            "resizedImageUri": media_uri(request, image, "display"),
            "thumbnailUri": media_uri(request, image, "thumbnail"),
            "originalImageUri": media_uri(request, image, "original"),
            "domain": str(project.domain_id),
            "id": str(image.id),
            "project": str(project.id),
            "iteration": str(iteration.id),
            "created": wire.iso(image.created),
            "predictions": preds,
            "predictionUncertainty": uncertainty,
        }
        for uncertainty, image, preds in page
    ]
    more = skip + take < len(rows)
    out_token = {**token, "continuation": str(skip + take) if more else None, "maxCount": take}
    return wire.respond({"token": out_token, "results": results})


@training_key_required
def query_suggested_image_count(request: HttpRequest, project_id: str) -> HttpResponse:
    """{tagId: number of untagged images the model tags with it at >= threshold}."""
    project = project_for(request, project_id)
    iteration = _iteration(request, project)
    names, threshold = _tag_filter(project, wire.json_body(request))
    images = list(untagged_images(project=project))
    counts = dict.fromkeys(names, 0)
    for preds in _predictions(project, iteration, images).values():
        for tag_id in {p["tagId"] for p in preds if p["tagId"] in counts and p["probability"] >= threshold}:
            counts[tag_id] += 1
    return wire.respond(counts)


@training_key_required
def suggest_tags_and_regions(request: HttpRequest, project_id: str) -> HttpResponse:
    """Smart labeler: the iteration's predictions for chosen images of the project (<= 64)."""
    project = project_for(request, project_id)
    iteration = _iteration(request, project)
    ids = wire.query_guids(request, "imageIds", limit=64, missing_code="BadRequestInvalidIds")
    images = {i.id: i for i in project.images.filter(id__in=ids)}
    if len(images) != len(ids):
        raise AzureError("BadRequestInvalidIds", "Some imageIds are not images of this project.", 400)
    predictions = _predictions(project, iteration, list(images.values()))
    return wire.respond([
        {
            "id": str(image_id),
            "project": str(project.id),
            "iteration": str(iteration.id),
            "created": wire.iso(images[image_id].created),
            "predictions": predictions[image_id],
            "predictionUncertainty": _uncertainty(predictions[image_id]),
        }
        for image_id in ids
    ])
