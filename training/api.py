"""Azure Custom Vision Training API for iterations: train, get/update/delete, performance, publish, exports, stubs."""

from __future__ import annotations

import uuid
from typing import Any

from django.http import HttpRequest, HttpResponse

from portal.azure import wire
from portal.azure.auth import training_key_required
from portal.azure.errors import AzureError, service
from projects.api import project_for
from projects.models import Image, Project

EXPORT_PLATFORMS = ("CoreML", "TensorFlow", "DockerFile", "ONNX", "VAIDK", "OpenVino")
SUPPORTED_EXPORTS = ("ONNX",)
MAX_PREDICTION_IDS = 64

# ---------------------------------------------------------------- writers


def iteration_status(iteration: Any) -> str:
    """Azure's three words: queued and running are both ``Training``; a cancelled run is ``Failed``."""
    return {"Training": "Training", "Completed": "Completed"}.get(iteration.status, "Failed")


def iteration_json(iteration: Any) -> dict[str, Any]:
    minutes = 0
    if iteration.started and iteration.finished:
        minutes = int(round((iteration.finished - iteration.started).total_seconds() / 60))
    status = iteration_status(iteration)
    return {
        "id": str(iteration.id),
        "name": iteration.name,
        "status": status,
        "created": wire.iso(iteration.created),
        "lastModified": wire.iso(iteration.modified),
        "trainedAt": wire.iso(iteration.finished) if status == "Completed" else None,
        "projectId": str(iteration.project_id),
        "exportable": status == "Completed",
        "exportableTo": list(SUPPORTED_EXPORTS) if status == "Completed" else [],
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
    return wire.child_or_404(project.iterations, iteration_id, code="NotFoundIteration", what="Iteration")


def _tag_ids(iteration: Any) -> dict[str, str]:
    """Tag name -> id as the iteration was trained (snapshot), for metrics keyed by name."""
    return {t["name"]: str(t["id"]) for t in (iteration.snapshot or {}).get("tags", ())}


# ---------------------------------------------------------------- iterations


@training_key_required
def train_project(request: HttpRequest, project_id: str) -> HttpResponse:
    project = project_for(request, project_id)
    wire.json_body(request)  # TrainingParameters: selectedTags / customBaseModelInfo are not supported; ignored
    training_type = (wire.query_str(request, "trainingType") or "Regular").strip()
    matched = next((t for t in ("Regular", "Advanced") if t.lower() == training_type.lower()), None)
    if matched is None:
        raise AzureError("BadRequestInvalidTrainingType", "trainingType must be Regular or Advanced.", 400)
    hours = wire.query_int(request, "reservedBudgetInHours", 0, minimum=0, maximum=24 * 7)
    if matched == "Advanced" and hours == 0:
        hours = 1  # Azure's portal default for advanced training
    iteration = service("training.services", "iteration_queue")(
        project=project,
        requested_by=request.user,
        training_type=matched,
        budget_minutes=hours * 60,
        force=wire.query_bool(request, "forceTrain"),
    )
    return wire.respond(iteration_json(iteration))


@training_key_required
def get_iterations(request: HttpRequest, project_id: str) -> HttpResponse:
    project = project_for(request, project_id)
    iterations = service("training.selectors", "iteration_list")(project=project)
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
        iteration = service("training.services", "iteration_rename")(iteration=iteration, name=name)
    return wire.respond(iteration_json(iteration))


@training_key_required
def delete_iteration(request: HttpRequest, project_id: str, iteration_id: str) -> HttpResponse:
    iteration = iteration_for(project_for(request, project_id), iteration_id)
    service("training.services", "iteration_delete")(iteration=iteration)
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
    wire.query_bool(request, "overwrite")
    service("training.services", "iteration_publish")(iteration=iteration, publish_name=publish_name)
    return wire.respond(True)


@training_key_required
def unpublish_iteration(request: HttpRequest, project_id: str, iteration_id: str) -> HttpResponse:
    iteration = iteration_for(project_for(request, project_id), iteration_id)
    service("training.services", "iteration_unpublish")(iteration=iteration)
    return wire.no_content()


# ---------------------------------------------------------------- performance


def _performance(iteration: Any, threshold: float, overlap: float) -> dict[str, Any]:
    if iteration_status(iteration) != "Completed":
        raise AzureError("BadRequestIterationIsNotTrained", f"{iteration.name} is not trained.", 400)
    perf = service("training.selectors", "iteration_performance")(
        iteration=iteration, threshold=threshold, iou_threshold=overlap
    )
    if perf is None:
        raise AzureError("NotFoundIterationPerformance", "This iteration has no performance data.", 404)
    return perf  # type: ignore[no-any-return]


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
                    "precisionStdDeviation": 0.0,
                    "recall": _f(row.get("recall")),
                    "recallStdDeviation": 0.0,
                    "averagePrecision": _f(row.get("ap")),
                }
                for row in perf.get("per_tag") or ()
            ],
            "precision": _f(overall.get("precision")),
            "precisionStdDeviation": 0.0,
            "recall": _f(overall.get("recall")),
            "recallStdDeviation": 0.0,
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


# ---------------------------------------------------------------- exports and artifacts


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
    exports = service("training.exports", "export_list")(iteration=iteration)
    return wire.respond([export_json(request, e) for e in exports])


@training_key_required
def export_iteration(request: HttpRequest, project_id: str, iteration_id: str) -> HttpResponse:
    iteration = iteration_for(project_for(request, project_id), iteration_id)
    platform = wire.query_str(request, "platform") or ""
    matched = next((p for p in EXPORT_PLATFORMS if p.lower() == platform.lower()), None)
    if matched not in SUPPORTED_EXPORTS:
        raise AzureError(
            "BadRequestProjectUnsupportedExportPlatform",
            f"Export platform {platform!r} is not supported; Tagsight exports ONNX.",
            400,
        )
    flavor = wire.query_str(request, "flavor") or ""
    if flavor:
        raise AzureError("BadRequestProjectUnsupportedExportPlatform", f"ONNX flavor {flavor!r} is not supported.", 400)
    if iteration_status(iteration) != "Completed":
        raise AzureError("BadRequestIterationIsNotTrained", f"{iteration.name} is not trained.", 400)
    export = service("training.exports", "export_request")(iteration=iteration, platform=matched, flavor="")
    return wire.respond(export_json(request, export))


@training_key_required
def get_artifact(request: HttpRequest, project_id: str) -> HttpResponse:
    project_for(request, project_id)
    if not wire.query_str(request, "path"):
        raise AzureError("BadRequest", "path is required.", 400)
    raise AzureError("NotFound", "No such artifact.", 404)


# ---------------------------------------------------------------- not yet in Tagsight (Azure errors, never 5xx)


@training_key_required
def create_images_from_predictions(request: HttpRequest, project_id: str) -> HttpResponse:
    from projects.api import image_json, tags_for, with_relations

    project = project_for(request, project_id)
    body = wire.json_body(request, required=True)
    entries = wire.body_field(body, "images") or []
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries) or not entries:
        raise AzureError("BadRequestImageBatch", "images must be a non-empty list of {id, tagIds, regions}.", 400)
    if len(entries) > 64:
        raise AzureError("BadRequestImageBatch", "At most 64 images per batch.", 400)
    batch_tags = wire.parse_guids(wire.body_field(body, "tagIds") or [], what="tagIds")
    add = service("training.predictions", "prediction_add_to_training")
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
            result = add(prediction=prediction, tags=[t.id for t in tags], regions=regions)
        except Exception as exc:
            if not getattr(exc, "code", None):
                raise
            results.append({"sourceUrl": None, "status": "ErrorUnknown", "image": None})
            continue
        image = with_relations(project.images.filter(id=result.image.id)).get()
        results.append({"sourceUrl": None, "status": result.status, "image": image_json(request, image)})
    ok = all(r["status"] == "OK" for r in results)
    return wire.respond({"isBatchSuccessful": ok, "images": results}, status=200 if ok else 207)


SUGGESTION_SCAN_LIMIT = 256  # untagged images (newest first) one suggestion query looks at
SUGGESTION_CACHE_SECONDS = 3600


def _suggestions(project: Project, iteration: Any, images: list[Any]) -> dict[Any, list[dict[str, Any]]]:
    """The iteration's predictions for these images, cached per (iteration, image): a model run is not free."""
    from django.core.cache import cache
    from django.core.files.storage import default_storage

    keys = {image.id: f"tagsight:suggest:{iteration.id}:{image.id}" for image in images}
    found = cache.get_many(list(keys.values()))
    out: dict[Any, list[dict[str, Any]]] = {}
    prediction_run = service("training.predictions", "prediction_run")
    for image in images:
        key = keys[image.id]
        if key not in found:
            with default_storage.open(image.file.name, "rb") as fh:
                data = fh.read()
            result = prediction_run(
                project=project, iteration=iteration, data=data, store=False, source="api", max_bytes=max(len(data), 1)
            )
            found[key] = list(result.predictions)
            cache.set(key, found[key], SUGGESTION_CACHE_SECONDS)
        out[image.id] = found[key]
    return out


def _suggestion_iteration(request: HttpRequest, project: Project) -> Any:
    iteration = iteration_for(project, wire.query_str(request, "iterationId") or "")
    if iteration_status(iteration) != "Completed":
        raise AzureError("BadRequestIterationIsNotTrained", f"{iteration.name} is not trained.", 400)
    return iteration


def _tag_filter(project: Project, body: dict[str, Any] | None) -> tuple[dict[str, str], float]:
    """({tag id: tag name}, threshold) from a TagFilter / SuggestedTagAndRegionQueryToken body."""
    from projects.api import tags_for

    ids = wire.parse_guids(wire.body_field(body, "tagIds") or [], what="tagIds")
    threshold = wire.body_field(body, "threshold", 0.0)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 <= threshold <= 1:
        raise AzureError("BadRequest", "threshold must be a number between 0 and 1.", 400)
    tags = tags_for(project, ids) if ids else list(project.tags.all())
    return {str(t.id): t.name for t in tags}, float(threshold)


def _untagged(project: Project) -> list[Any]:
    from projects.selectors import image_list

    return list(image_list(project=project, tagged=False)[:SUGGESTION_SCAN_LIMIT])


@training_key_required
def query_suggested_images(request: HttpRequest, project_id: str) -> HttpResponse:
    """SuggestedTagAndRegionQuery over the newest untagged images (at most SUGGESTION_SCAN_LIMIT of them)."""
    from portal.azure.media import media_uri
    from training.api_prediction import image_prediction_json

    project = project_for(request, project_id)
    iteration = _suggestion_iteration(request, project)
    token = wire.json_body(request) or {}
    names, threshold = _tag_filter(project, token)
    images = _untagged(project)
    predictions = _suggestions(project, iteration, images)
    rows = []
    for image in images:
        preds = image_prediction_json(project, iteration, predictions[image.id])["predictions"]
        if not any(p["tagId"] in names and p["probability"] >= threshold for p in preds):
            continue
        top = preds[0]["probability"] if preds else 0.0
        rows.append((1 - abs(2 * top - 1), image, preds))
    descending = str(wire.body_field(token, "sortBy") or "UncertaintyDescending").lower() != "uncertaintyascending"
    rows.sort(key=lambda r: r[0], reverse=descending)
    try:
        skip = int(wire.body_field(token, "continuation") or 0)
        take = min(max(int(wire.body_field(token, "maxCount") or 50), 1), 256)
        if skip < 0:
            raise ValueError(skip)
    except (TypeError, ValueError, OverflowError):
        raise AzureError("BadRequest", "continuation/maxCount are invalid.", 400) from None
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
    """{tagId: number of untagged images (newest SUGGESTION_SCAN_LIMIT) the model tags with it at >= threshold}."""
    from training.api_prediction import image_prediction_json

    project = project_for(request, project_id)
    iteration = _suggestion_iteration(request, project)
    names, threshold = _tag_filter(project, wire.json_body(request))
    images = _untagged(project)
    predictions = _suggestions(project, iteration, images)
    counts = dict.fromkeys(names, 0)
    for image in images:
        for p in image_prediction_json(project, iteration, predictions[image.id])["predictions"]:
            if p["tagId"] in counts and p["probability"] >= threshold:
                counts[p["tagId"]] += 1
    return wire.respond(counts)


@training_key_required
def suggest_tags_and_regions(request: HttpRequest, project_id: str) -> HttpResponse:
    """Smart labeler: the iteration's predictions for images of the project (nothing stored)."""
    from django.core.files.storage import default_storage

    from training.api_prediction import image_prediction_json

    project = project_for(request, project_id)
    iteration = iteration_for(project, wire.query_str(request, "iterationId") or "")
    if iteration_status(iteration) != "Completed":
        raise AzureError("BadRequestIterationIsNotTrained", f"{iteration.name} is not trained.", 400)
    ids = wire.query_guids(request, "imageIds", limit=64)
    if not ids:
        raise AzureError("BadRequestInvalidIds", "imageIds is required.", 400)
    images = {i.id: i for i in project.images.filter(id__in=ids)}
    if len(images) != len(ids):
        raise AzureError("BadRequestInvalidIds", "Some imageIds are not images of this project.", 400)
    prediction_run = service("training.predictions", "prediction_run")
    out = []
    for image_id in ids:
        with default_storage.open(images[image_id].file.name, "rb") as fh:
            data = fh.read()
        result = prediction_run(
            project=project, iteration=iteration, data=data, store=False, source="api", max_bytes=max(len(data), 1)
        )
        body = image_prediction_json(project, iteration, result.predictions)
        top = body["predictions"][0]["probability"] if body["predictions"] else 0.0
        out.append(
            {
                "id": str(image_id),
                "project": str(project.id),
                "iteration": str(iteration.id),
                "created": wire.iso(images[image_id].created),
                "predictions": body["predictions"],
                "predictionUncertainty": 1 - abs(2 * top - 1),
            }
        )
    return wire.respond(out)


@training_key_required
def delete_prediction(request: HttpRequest, project_id: str) -> HttpResponse:
    project = project_for(request, project_id)
    ids = wire.query_guids(request, "ids", limit=MAX_PREDICTION_IDS)
    if not ids:
        raise AzureError("BadRequestPredictionIdsMissing", "ids is required.", 400)
    service("training.predictions", "predictions_delete")(project=project, prediction_ids=ids)
    return wire.no_content()


def stored_prediction_json(request: HttpRequest, project: Project, prediction: Any) -> dict[str, Any]:
    from portal.azure.media import prediction_uri
    from training.api_prediction import image_prediction_json

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
    qs = service("training.predictions", "prediction_list")(project=project, order=order, **filters)
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
