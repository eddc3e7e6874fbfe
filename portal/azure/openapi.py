"""OpenAPI 3.0 document of the Azure-compatible API as Tagsight serves it (GET /customvision/openapi.json).

Written from the route table: every Route (portal.azure.routes) that Django dispatches to (found by walking
the URLconf) gives its path, and each of its Operations the method, operation id, query parameters, body and
success statuses. Only the component schemas (Azure's models, the spec's §3) are kept here. schemathesis
fuzzes the server against this document; tests/azure_contract/test_openapi_spec.py checks it against
shared/api/customvision-v3.md.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.urls import URLPattern, URLResolver, get_resolver

from portal.azure.operations import MULTIPART, PATH_PARAMS, Operation, Route, Schema

BASES = {"training": "/customvision/v3.4-preview/training", "prediction": "/customvision/v3.1/prediction"}
SECURITY = {"training": "TrainingKey", "prediction": "PredictionKey"}
JSON = "application/json"

_S = {"type": "string"}
_ID = {"type": "string", "format": "uuid"}
_DT = {"type": "string", "format": "date-time"}
_NUM = {"type": "number"}
_INT = {"type": "integer"}
_BOOL = {"type": "boolean"}
_MAP_STR = {"type": "object", "additionalProperties": _S}
_PRIMITIVES = {"str": _S, "uuid": _ID, "int": _INT, "float": _NUM, "bool": _BOOL}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _arr(item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": item}


def _obj(props: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", "properties": props}
    if required:
        out["required"] = list(required)
    return out


def _nullable(inner: dict[str, Any]) -> dict[str, Any]:
    return {**inner, "nullable": True} if "$ref" not in inner else {"allOf": [inner], "nullable": True}


_BOX = {"left": _NUM, "top": _NUM, "width": _NUM, "height": _NUM}
_REGION = ("tagId", "left", "top", "width", "height")  # required in every region-like model
# The fields every stored / suggested prediction shares with ImagePrediction.
_PREDICTED = {
    "id": _ID,
    "project": _ID,
    "iteration": _nullable(_ID),
    "created": _DT,
    "predictions": _arr(_ref("Prediction")),
}

SCHEMAS: dict[str, Any] = {
    "CustomVisionError": _obj({"code": _S, "message": _S}, ("code", "message")),
    "Domain": _obj(
        {
            "id": _ID,
            "name": _S,
            "type": _S,
            "exportable": _BOOL,
            "enabled": _BOOL,
            "exportablePlatforms": _arr(_S),
            "modelInformation": _ref("ModelInformation"),
        }
    ),
    "ProjectSettings": _obj(
        {
            "domainId": _ID,
            "classificationType": _nullable(_S),
            "targetExportPlatforms": _arr(_S),
            "useNegativeSet": _BOOL,
            "detectionParameters": _nullable(_S),
            "imageProcessingSettings": _ref("ImageProcessingSettings"),
            "exportModelContainerUri": _nullable(_S),
            "notificationQueueUri": _nullable(_S),
        }
    ),
    "Project": _obj(
        {
            "id": _ID,
            "name": _S,
            "description": _S,
            "settings": _ref("ProjectSettings"),
            "created": _DT,
            "lastModified": _DT,
            "thumbnailUri": _nullable(_S),
            "drModeEnabled": _BOOL,
            "status": _S,
        },
        ("id", "name", "description", "settings"),
    ),
    "Tag": _obj(
        {"id": _ID, "name": _S, "description": _S, "type": _S, "imageCount": _INT},
        ("id", "name", "description", "type", "imageCount"),
    ),
    "ImageTag": _obj({"tagId": _ID, "tagName": _S, "created": _DT}),
    "ImageRegion": _obj({"regionId": _ID, "tagName": _S, "created": _DT, "tagId": _ID, **_BOX}, _REGION),
    "Image": _obj(
        {
            "id": _ID,
            "created": _DT,
            "width": _INT,
            "height": _INT,
            "resizedImageUri": _nullable(_S),
            "thumbnailUri": _nullable(_S),
            "originalImageUri": _nullable(_S),
            "tags": _arr(_ref("ImageTag")),
            "regions": _arr(_ref("ImageRegion")),
            "metadata": _MAP_STR,
        },
        ("id", "width", "height"),
    ),
    "ImageCreateResult": _obj(
        {"sourceUrl": _nullable(_S), "status": _S, "image": _nullable(_ref("Image"))}, ("status",)
    ),
    "ImageCreateSummary": _obj(
        {"isBatchSuccessful": _BOOL, "images": _arr(_ref("ImageCreateResult"))}, ("isBatchSuccessful", "images")
    ),
    "Region": _obj({"tagId": _ID, **_BOX}, _REGION),
    "ImageFileCreateEntry": _obj(
        {
            "name": _S,
            "contents": {"type": "string", "format": "byte"},
            "tagIds": _arr(_ID),
            "regions": _arr(_ref("Region")),
        }
    ),
    "ImageFileCreateBatch": _obj(
        {"images": _arr(_ref("ImageFileCreateEntry")), "tagIds": _arr(_ID), "metadata": _MAP_STR}
    ),
    "ImageUrlCreateEntry": _obj({"url": _S, "tagIds": _arr(_ID), "regions": _arr(_ref("Region"))}, ("url",)),
    "ImageUrlCreateBatch": _obj(
        {"images": _arr(_ref("ImageUrlCreateEntry")), "tagIds": _arr(_ID), "metadata": _MAP_STR}
    ),
    "ImageTagCreateEntry": _obj({"imageId": _ID, "tagId": _ID}),
    "ImageTagCreateBatch": _obj({"tags": _arr(_ref("ImageTagCreateEntry"))}),
    "ImageTagCreateSummary": _obj(
        {
            "created": _arr(_ref("ImageTagCreateEntry")),
            "duplicated": _arr(_ref("ImageTagCreateEntry")),
            "exceeded": _arr(_ref("ImageTagCreateEntry")),
        }
    ),
    "ImageRegionCreateEntry": _obj({"imageId": _ID, "tagId": _ID, **_BOX}, ("imageId", *_REGION)),
    "ImageRegionCreateBatch": _obj({"regions": _arr(_ref("ImageRegionCreateEntry"))}),
    "ImageRegionCreateResult": _obj(
        {"imageId": _ID, "regionId": _ID, "tagName": _S, "created": _DT, "tagId": _ID, **_BOX}, _REGION
    ),
    "ImageRegionCreateSummary": _obj(
        {
            "created": _arr(_ref("ImageRegionCreateResult")),
            "duplicated": _arr(_ref("ImageRegionCreateEntry")),
            "exceeded": _arr(_ref("ImageRegionCreateEntry")),
        }
    ),
    "ImageRegionProposal": _obj({"projectId": _ID, "imageId": _ID, "proposals": _arr(_ref("RegionProposal"))}),
    "RegionProposal": _obj({"confidence": _NUM, "boundingBox": _ref("BoundingBox")}),
    "Iteration": _obj(
        {
            "id": _ID,
            "name": _S,
            "status": _S,
            "created": _DT,
            "lastModified": _DT,
            "trainedAt": _nullable(_DT),
            "projectId": _ID,
            "exportable": _BOOL,
            "exportableTo": _arr(_S),
            "domainId": _ID,
            "classificationType": _nullable(_S),
            "trainingType": _S,
            "reservedBudgetInHours": _INT,
            "trainingTimeInMinutes": _INT,
            "publishName": _nullable(_S),
            "originalPublishResourceId": _nullable(_S),
            "customBaseModelInfo": _nullable(_ref("CustomBaseModelInfo")),
            "trainingErrorDetails": _nullable(_S),
        },
        ("id", "name", "status"),
    ),
    "TagPerformance": _obj(
        {
            "id": _nullable(_ID),
            "name": _S,
            "precision": _NUM,
            "precisionStdDeviation": _NUM,
            "recall": _NUM,
            "recallStdDeviation": _NUM,
            "averagePrecision": _NUM,
        }
    ),
    "IterationPerformance": _obj(
        {
            "perTagPerformance": _arr(_ref("TagPerformance")),
            "precision": _NUM,
            "precisionStdDeviation": _NUM,
            "recall": _NUM,
            "recallStdDeviation": _NUM,
            "averagePrecision": _NUM,
        }
    ),
    "BoundingBox": _obj(_BOX, ("left", "top", "width", "height")),
    "Prediction": _obj(
        {
            "probability": _NUM,
            "tagId": _nullable(_ID),
            "tagName": _S,
            "boundingBox": _nullable(_ref("BoundingBox")),
            "tagType": _S,
        }
    ),
    "ImagePrediction": _obj(
        {"id": _ID, "project": _ID, "iteration": _ID, "created": _DT, "predictions": _arr(_ref("Prediction"))}
    ),
    "ImagePerformance": _obj(
        {
            "predictions": _arr(_ref("Prediction")),
            "id": _S,
            "created": _nullable(_DT),
            "width": _nullable(_INT),
            "height": _nullable(_INT),
            "imageUri": _nullable(_S),
            "thumbnailUri": _nullable(_S),
            "tags": _arr(_ref("ImageTag")),
            "regions": _arr(_ref("ImageRegion")),
        }
    ),
    "Export": _obj(
        {
            "platform": _S,
            "status": _S,
            "downloadUri": _nullable(_S),
            "flavor": _nullable(_S),
            "newerVersionAvailable": _BOOL,
        }
    ),
    "ImageUrl": _obj({"url": _S}, ("url",)),
    "TagFilter": _obj({"tagIds": _arr(_ID), "threshold": _NUM}),
    "CreateProjectOptions": _obj({"exportModelContainerUri": _S, "notificationQueueUri": _S}),
    "CustomBaseModelInfo": _obj({"projectId": _ID, "iterationId": _ID}, ("projectId", "iterationId")),
    "ModelInformation": _obj({"estimatedModelSizeInMegabytes": _INT, "description": _S}, ("description",)),
    "ImageProcessingSettings": _obj({"augmentationMethods": {"type": "object", "additionalProperties": _BOOL}}),
    "ProjectExport": _obj(
        {
            "iterationCount": _INT,
            "imageCount": _INT,
            "tagCount": _INT,
            "regionCount": _INT,
            "estimatedImportTimeInMS": _INT,
            "token": _S,
        }
    ),
    "ImageIdCreateEntry": _obj({"id": _ID, "tagIds": _arr(_ID), "regions": _arr(_ref("Region"))}),
    "ImageIdCreateBatch": _obj({"images": _arr(_ref("ImageIdCreateEntry")), "tagIds": _arr(_ID), "metadata": _MAP_STR}),
    "ImageMetadataUpdateEntry": _obj({"imageId": _ID, "status": _S, "metadata": _MAP_STR}),
    "ImageMetadataUpdateSummary": _obj(
        {"isBatchSuccessful": _BOOL, "images": _arr(_ref("ImageMetadataUpdateEntry"))}, ("isBatchSuccessful", "images")
    ),
    "TrainingParameters": _obj({"selectedTags": _arr(_ID), "customBaseModelInfo": _ref("CustomBaseModelInfo")}),
    "PredictionQueryTag": _obj({"id": _ID, "minThreshold": _NUM, "maxThreshold": _NUM}),
    "PredictionQueryToken": _obj(
        {
            "session": _S,
            "continuation": _nullable(_S),
            "maxCount": _INT,
            "orderBy": _S,
            "tags": _arr(_ref("PredictionQueryTag")),
            "iterationId": _ID,
            "startTime": _DT,
            "endTime": _DT,
            "application": _S,
        }
    ),
    "StoredImagePrediction": _obj(
        {
            "resizedImageUri": _nullable(_S),
            "thumbnailUri": _nullable(_S),
            "originalImageUri": _nullable(_S),
            "domain": _ID,
            **_PREDICTED,
        }
    ),
    "PredictionQueryResult": _obj(
        {"token": _ref("PredictionQueryToken"), "results": _arr(_ref("StoredImagePrediction"))}
    ),
    "SuggestedTagAndRegion": _obj({**_PREDICTED, "predictionUncertainty": _NUM}),
    "SuggestedTagAndRegionQueryToken": _obj(
        {
            "tagIds": _arr(_ID),
            "threshold": _NUM,
            "session": _S,
            "continuation": _nullable(_S),
            "maxCount": _INT,
            "sortBy": _S,
        }
    ),
    "StoredSuggestedTagAndRegion": _obj(
        {
            "width": _INT,
            "height": _INT,
            "resizedImageUri": _nullable(_S),
            "thumbnailUri": _nullable(_S),
            "originalImageUri": _nullable(_S),
            "domain": _ID,
            **_PREDICTED,
            "predictionUncertainty": _NUM,
        }
    ),
    "SuggestedTagAndRegionQuery": _obj(
        {"token": _ref("SuggestedTagAndRegionQueryToken"), "results": _arr(_ref("StoredSuggestedTagAndRegion"))}
    ),
}


def schema(notation: Schema) -> dict[str, Any]:
    """JSON schema of a declaration's shorthand (see portal.azure.operations): ``"[Image]"``, ``"int"``, ..."""
    if isinstance(notation, dict):
        return notation
    if not notation:
        raise ValueError("no schema")
    if notation[0] + notation[-1] == "[]":
        return _arr(schema(notation[1:-1]))
    if notation[0] + notation[-1] == "{}":
        return {"type": "object", "additionalProperties": schema(notation[1:-1])}
    if notation in _PRIMITIVES:
        return dict(_PRIMITIVES[notation])
    if notation in SCHEMAS:
        return _ref(notation)
    raise ValueError(f"unknown schema {notation!r}: not a primitive nor a model of SCHEMAS")


def served_routes(patterns: Sequence[URLPattern | URLResolver] | None = None) -> Iterator[Route]:
    """Every Route the URLconf dispatches to, in URLconf order (what is documented is what is routed)."""
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            yield from served_routes(pattern.url_patterns)
        elif isinstance(pattern.callback, Route):
            yield pattern.callback


def _parameters(route: Route, operation: Operation) -> list[dict[str, Any]]:
    out = [
        {"name": name, "in": "path", "required": True, "schema": schema(PATH_PARAMS[name][1])}
        for name in route.path_params
    ]
    for param in operation.query:
        query: dict[str, Any] = {"name": param.name, "in": "query", "required": param.required}
        query["schema"] = schema(param.schema)
        if query["schema"].get("type") == "array":
            query.update(style="form", explode=False)  # comma-separated, as msrest sends lists
        out.append(query)
    return out


def _request_body(body: Schema) -> dict[str, Any]:
    if body == MULTIPART:
        part = _obj({"imageData": {"type": "string", "format": "binary"}}, ("imageData",))
        return {
            "required": True,
            "content": {
                "multipart/form-data": {"schema": part},
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            },
        }
    return {"required": False, "content": {JSON: {"schema": schema(body)}}}


def _operation(route: Route, operation: Operation) -> dict[str, Any]:
    responses = {
        str(status): {"description": "OK"}
        if body is None
        else {"description": "OK", "content": {JSON: {"schema": schema(body)}}}
        for status, body in operation.responses.items()
    }
    out: dict[str, Any] = {
        "operationId": operation.operation_id,
        "tags": [route.api],
        "parameters": _parameters(route, operation),
        "security": [{SECURITY[route.api]: []}],
        "responses": {
            **responses,
            "default": {"description": "Error", "content": {JSON: {"schema": _ref("CustomVisionError")}}},
        },
    }
    if operation.body is not None:
        out["requestBody"] = _request_body(operation.body)
    return out


def build() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for route in served_routes():
        path = paths.setdefault(f"{BASES[route.api]}/{route.path}", {})
        for operation in route.operations:
            path[operation.method.lower()] = _operation(route, operation)
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Tagsight: Azure Custom Vision compatible API",
            "version": "3.4-preview",
            "description": "Training v3.0-v3.4-preview and Prediction v3.0/v3.1 are served at every version prefix "
            "(/customvision/v3.x/training, /customvision/v3.x/prediction), case-insensitively; this document "
            "lists the v3.4-preview training and v3.1 prediction paths the current SDKs call.",
        },
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "TrainingKey": {"type": "apiKey", "in": "header", "name": "Training-Key"},
                "PredictionKey": {"type": "apiKey", "in": "header", "name": "Prediction-Key"},
            },
        },
    }


def openapi_json(request: HttpRequest) -> JsonResponse:
    """The document itself (no key needed: it describes the API, it holds no data)."""
    return JsonResponse(build(), json_dumps_params={"indent": 1})
