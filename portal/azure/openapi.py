"""OpenAPI 3.0 document of the Azure-compatible API as Tagsight serves it (GET /customvision/openapi.json).

Built from one table of operations (below) so it stays short; tests check every path in it resolves to a
route of portal.azure.urls, and schemathesis fuzzes the server against it.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, JsonResponse

TRAINING = "/customvision/v3.4-preview/training"
PREDICTION = "/customvision/v3.1/prediction"

_S = {"type": "string"}
_ID = {"type": "string", "format": "uuid"}
_DT = {"type": "string", "format": "date-time"}
_NUM = {"type": "number"}
_INT = {"type": "integer"}
_BOOL = {"type": "boolean"}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _arr(item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": item}


def _obj(props: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", "properties": props}
    if required:
        out["required"] = list(required)
    return out


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "nullable": True} if "$ref" not in schema else {"allOf": [schema], "nullable": True}


_BOX = {"left": _NUM, "top": _NUM, "width": _NUM, "height": _NUM}

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
            "modelInformation": _obj({}),
        }
    ),
    "ProjectSettings": _obj(
        {
            "domainId": _ID,
            "classificationType": _nullable(_S),
            "targetExportPlatforms": _arr(_S),
            "useNegativeSet": _BOOL,
            "detectionParameters": _nullable(_S),
            "imageProcessingSettings": _obj({}),
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
    "ImageRegion": _obj({"regionId": _ID, "tagName": _S, "created": _DT, "tagId": _ID, **_BOX}),
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
            "metadata": _obj({}),
        },
        ("id", "width", "height"),
    ),
    "ImageCreateResult": _obj(
        {"sourceUrl": _nullable(_S), "status": _S, "image": _nullable(_ref("Image"))}, ("status",)
    ),
    "ImageCreateSummary": _obj(
        {"isBatchSuccessful": _BOOL, "images": _arr(_ref("ImageCreateResult"))}, ("isBatchSuccessful", "images")
    ),
    "Region": _obj({"tagId": _ID, **_BOX}, ("tagId", "left", "top", "width", "height")),
    "ImageFileCreateEntry": _obj(
        {
            "name": _S,
            "contents": {"type": "string", "format": "byte"},
            "tagIds": _arr(_ID),
            "regions": _arr(_ref("Region")),
        }
    ),
    "ImageFileCreateBatch": _obj(
        {"images": _arr(_ref("ImageFileCreateEntry")), "tagIds": _arr(_ID), "metadata": _obj({})}
    ),
    "ImageUrlCreateEntry": _obj({"url": _S, "tagIds": _arr(_ID), "regions": _arr(_ref("Region"))}, ("url",)),
    "ImageUrlCreateBatch": _obj(
        {"images": _arr(_ref("ImageUrlCreateEntry")), "tagIds": _arr(_ID), "metadata": _obj({})}
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
    "ImageRegionCreateEntry": _obj(
        {"imageId": _ID, "tagId": _ID, **_BOX}, ("imageId", "tagId", "left", "top", "width", "height")
    ),
    "ImageRegionCreateBatch": _obj({"regions": _arr(_ref("ImageRegionCreateEntry"))}),
    "ImageRegionCreateResult": _obj(
        {"imageId": _ID, "regionId": _ID, "tagName": _S, "created": _DT, "tagId": _ID, **_BOX}
    ),
    "ImageRegionCreateSummary": _obj(
        {
            "created": _arr(_ref("ImageRegionCreateResult")),
            "duplicated": _arr(_ref("ImageRegionCreateEntry")),
            "exceeded": _arr(_ref("ImageRegionCreateEntry")),
        }
    ),
    "ImageRegionProposal": _obj({"projectId": _ID, "imageId": _ID, "proposals": _arr(_obj({}))}),
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
            "customBaseModelInfo": _nullable(_obj({})),
            "trainingErrorDetails": _nullable(_S),
        },
        ("id", "name", "status"),
    ),
    "IterationUpdate": _obj({"name": _S}),
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
    "PredictionQueryToken": _obj({"session": _S, "continuation": _S, "maxCount": _INT, "orderBy": _S}),
    "TrainingParameters": _obj({"selectedTags": _arr(_ID)}),
}

# Query parameter shorthands: (name, schema, required). Lists are comma-separated (style form, explode false).
Q = tuple[str, dict[str, Any], bool]
_IDS = {"type": "array", "items": _ID}
PAGE: list[Q] = [
    ("take", {"type": "integer", "minimum": 0, "maximum": 256}, False),
    ("skip", {"type": "integer", "minimum": 0}, False),
]
ORDER: Q = ("orderBy", {"type": "string", "enum": ["Newest", "Oldest"]}, False)
ITER: Q = ("iterationId", _ID, False)
TAGS: Q = ("tagIds", _IDS, False)
APP: Q = ("application", _S, False)
JSON = "application/json"
MULTIPART = "multipart"

# (api, method, path, operationId, query, body, {status: response schema or None})
OPERATIONS: list[tuple[str, str, str, str, list[Q], Any, dict[int, Any]]] = [
    ("training", "get", "/domains", "GetDomains", [], None, {200: _arr(_ref("Domain"))}),
    ("training", "get", "/domains/{domainId}", "GetDomain", [], None, {200: _ref("Domain")}),
    ("training", "get", "/projects", "GetProjects", [], None, {200: _arr(_ref("Project"))}),
    (
        "training",
        "post",
        "/projects",
        "CreateProject",
        [
            ("name", _S, True),
            ("description", _S, False),
            ("domainId", _ID, False),
            ("classificationType", {"type": "string", "enum": ["Multiclass", "Multilabel"]}, False),
        ],
        _obj({}),
        {200: _ref("Project")},
    ),
    (
        "training",
        "post",
        "/projects/import",
        "ImportProject",
        [("token", _S, True), ("name", _S, False)],
        None,
        {200: _ref("Project")},
    ),
    ("training", "get", "/projects/{projectId}", "GetProject", [], None, {200: _ref("Project")}),
    ("training", "patch", "/projects/{projectId}", "UpdateProject", [], _ref("Project"), {200: _ref("Project")}),
    ("training", "delete", "/projects/{projectId}", "DeleteProject", [], None, {204: None}),
    ("training", "get", "/projects/{projectId}/artifacts", "GetArtifact", [("path", _S, True)], None, {200: None}),
    ("training", "get", "/projects/{projectId}/export", "ExportProject", [], None, {200: _obj({})}),
    (
        "training",
        "get",
        "/projects/{projectId}/images",
        "GetImages",
        [ITER, TAGS, ("taggingStatus", {"type": "string", "enum": ["All", "Tagged", "Untagged"]}, False), ORDER, *PAGE],
        None,
        {200: _arr(_ref("Image"))},
    ),
    (
        "training",
        "post",
        "/projects/{projectId}/images",
        "CreateImagesFromData",
        [TAGS],
        MULTIPART,
        {200: _ref("ImageCreateSummary"), 207: _ref("ImageCreateSummary")},
    ),
    (
        "training",
        "delete",
        "/projects/{projectId}/images",
        "DeleteImages",
        [("imageIds", _IDS, False), ("allImages", _BOOL, False), ("allIterations", _BOOL, False)],
        None,
        {204: None},
    ),
    (
        "training",
        "get",
        "/projects/{projectId}/images/count",
        "GetImageCount",
        [ITER, TAGS, ("taggingStatus", {"type": "string", "enum": ["All", "Tagged", "Untagged"]}, False)],
        None,
        {200: _INT},
    ),
    (
        "training",
        "get",
        "/projects/{projectId}/images/id",
        "GetImagesByIds",
        [("imageIds", _IDS, False), ITER],
        None,
        {200: _arr(_ref("Image"))},
    ),
    (
        "training",
        "post",
        "/projects/{projectId}/images/files",
        "CreateImagesFromFiles",
        [],
        _ref("ImageFileCreateBatch"),
        {200: _ref("ImageCreateSummary"), 207: _ref("ImageCreateSummary")},
    ),
    (
        "training",
        "post",
        "/projects/{projectId}/images/urls",
        "CreateImagesFromUrls",
        [],
        _ref("ImageUrlCreateBatch"),
        {200: _ref("ImageCreateSummary"), 207: _ref("ImageCreateSummary")},
    ),
    (
        "training",
        "post",
        "/projects/{projectId}/images/predictions",
        "CreateImagesFromPredictions",
        [],
        _obj({}),
        {200: _ref("ImageCreateSummary")},
    ),
    (
        "training",
        "post",
        "/projects/{projectId}/images/metadata",
        "UpdateImageMetadata",
        [("imageIds", _IDS, True)],
        _obj({}),
        {200: _obj({}), 207: _obj({})},
    ),
    (
        "training",
        "post",
        "/projects/{projectId}/images/regions",
        "CreateImageRegions",
        [],
        _ref("ImageRegionCreateBatch"),
        {200: _ref("ImageRegionCreateSummary"), 207: _ref("ImageRegionCreateSummary")},
    ),
    (
        "training",
        "delete",
        "/projects/{projectId}/images/regions",
        "DeleteImageRegions",
        [("regionIds", _IDS, True)],
        None,
        {204: None},
    ),
    (
        "training",
        "post",
        "/projects/{projectId}/images/{imageId}/regionproposals",
        "GetImageRegionProposals",
        [],
        None,
        {200: _ref("ImageRegionProposal")},
    ),
    (
        "training",
        "post",
        "/projects/{projectId}/images/suggested",
        "QuerySuggestedImages",
        [ITER],
        _obj({}),
        {200: _obj({})},
    ),
    (
        "training",
        "post",
        "/projects/{projectId}/images/suggested/count",
        "QuerySuggestedImageCount",
        [ITER],
        _ref("TagFilter"),
        {200: _obj({})},
    ),
    (
        "training",
        "get",
        "/projects/{projectId}/images/tagged",
        "GetTaggedImages",
        [ITER, TAGS, ORDER, *PAGE],
        None,
        {200: _arr(_ref("Image"))},
    ),
    (
        "training",
        "get",
        "/projects/{projectId}/images/tagged/count",
        "GetTaggedImageCount",
        [ITER, TAGS],
        None,
        {200: _INT},
    ),
    (
        "training",
        "get",
        "/projects/{projectId}/images/untagged",
        "GetUntaggedImages",
        [ITER, ORDER, *PAGE],
        None,
        {200: _arr(_ref("Image"))},
    ),
    (
        "training",
        "get",
        "/projects/{projectId}/images/untagged/count",
        "GetUntaggedImageCount",
        [ITER],
        None,
        {200: _INT},
    ),
    (
        "training",
        "post",
        "/projects/{projectId}/images/tags",
        "CreateImageTags",
        [],
        _ref("ImageTagCreateBatch"),
        {200: _ref("ImageTagCreateSummary")},
    ),
    (
        "training",
        "delete",
        "/projects/{projectId}/images/tags",
        "DeleteImageTags",
        [("imageIds", _IDS, True), ("tagIds", _IDS, True)],
        None,
        {204: None},
    ),
    ("training", "get", "/projects/{projectId}/iterations", "GetIterations", [], None, {200: _arr(_ref("Iteration"))}),
    (
        "training",
        "get",
        "/projects/{projectId}/iterations/{iterationId}",
        "GetIteration",
        [],
        None,
        {200: _ref("Iteration")},
    ),
    (
        "training",
        "patch",
        "/projects/{projectId}/iterations/{iterationId}",
        "UpdateIteration",
        [],
        _ref("IterationUpdate"),
        {200: _ref("Iteration")},
    ),
    ("training", "delete", "/projects/{projectId}/iterations/{iterationId}", "DeleteIteration", [], None, {204: None}),
    (
        "training",
        "get",
        "/projects/{projectId}/iterations/{iterationId}/export",
        "GetExports",
        [],
        None,
        {200: _arr(_ref("Export"))},
    ),
    (
        "training",
        "post",
        "/projects/{projectId}/iterations/{iterationId}/export",
        "ExportIteration",
        [("platform", _S, True), ("flavor", _S, False)],
        None,
        {200: _ref("Export")},
    ),
    (
        "training",
        "get",
        "/projects/{projectId}/iterations/{iterationId}/performance",
        "GetIterationPerformance",
        [("threshold", _NUM, False), ("overlapThreshold", _NUM, False)],
        None,
        {200: _ref("IterationPerformance")},
    ),
    (
        "training",
        "get",
        "/projects/{projectId}/iterations/{iterationId}/performance/images",
        "GetImagePerformances",
        [TAGS, ORDER, *PAGE],
        None,
        {200: _arr(_ref("ImagePerformance"))},
    ),
    (
        "training",
        "get",
        "/projects/{projectId}/iterations/{iterationId}/performance/images/count",
        "GetImagePerformanceCount",
        [TAGS],
        None,
        {200: _INT},
    ),
    (
        "training",
        "post",
        "/projects/{projectId}/iterations/{iterationId}/publish",
        "PublishIteration",
        [("publishName", _S, True), ("predictionId", _S, True), ("overwrite", _BOOL, False)],
        None,
        {200: _BOOL},
    ),
    (
        "training",
        "delete",
        "/projects/{projectId}/iterations/{iterationId}/publish",
        "UnpublishIteration",
        [],
        None,
        {204: None},
    ),
    (
        "training",
        "delete",
        "/projects/{projectId}/predictions",
        "DeletePrediction",
        [("ids", _IDS, True)],
        None,
        {204: None},
    ),
    (
        "training",
        "post",
        "/projects/{projectId}/predictions/query",
        "QueryPredictions",
        [],
        _ref("PredictionQueryToken"),
        {200: _obj({})},
    ),
    (
        "training",
        "post",
        "/projects/{projectId}/quicktest/image",
        "QuickTestImage",
        [ITER, ("store", _BOOL, False)],
        MULTIPART,
        {200: _ref("ImagePrediction")},
    ),
    (
        "training",
        "post",
        "/projects/{projectId}/quicktest/url",
        "QuickTestImageUrl",
        [ITER, ("store", _BOOL, False)],
        _ref("ImageUrl"),
        {200: _ref("ImagePrediction")},
    ),
    ("training", "get", "/projects/{projectId}/tags", "GetTags", [ITER], None, {200: _arr(_ref("Tag"))}),
    (
        "training",
        "post",
        "/projects/{projectId}/tags",
        "CreateTag",
        [
            ("name", _S, True),
            ("description", _S, False),
            ("type", {"type": "string", "enum": ["Regular", "Negative", "GeneralProduct"]}, False),
        ],
        None,
        {200: _ref("Tag")},
    ),
    ("training", "get", "/projects/{projectId}/tags/{tagId}", "GetTag", [ITER], None, {200: _ref("Tag")}),
    ("training", "patch", "/projects/{projectId}/tags/{tagId}", "UpdateTag", [], _ref("Tag"), {200: _ref("Tag")}),
    ("training", "delete", "/projects/{projectId}/tags/{tagId}", "DeleteTag", [], None, {204: None}),
    (
        "training",
        "post",
        "/projects/{projectId}/tagsandregions/suggestions",
        "SuggestTagsAndRegions",
        [ITER, ("imageIds", _IDS, True)],
        None,
        {200: _arr(_obj({}))},
    ),
    (
        "training",
        "post",
        "/projects/{projectId}/train",
        "TrainProject",
        [
            ("trainingType", {"type": "string", "enum": ["Regular", "Advanced"]}, False),
            ("reservedBudgetInHours", _INT, False),
            ("forceTrain", _BOOL, False),
            ("notificationEmailAddress", _S, False),
        ],
        _ref("TrainingParameters"),
        {200: _ref("Iteration")},
    ),
]
for _task in ("classify", "detect"):
    for _suffix, _op in (("", ""), ("/nostore", "WithNoStore")):
        _name = "ClassifyImage" if _task == "classify" else "DetectImage"
        OPERATIONS.append(
            (
                "prediction",
                "post",
                f"/{{projectId}}/{_task}/iterations/{{publishedName}}/image{_suffix}",
                f"{_name}{_op}",
                [APP],
                MULTIPART,
                {200: _ref("ImagePrediction")},
            )
        )
        OPERATIONS.append(
            (
                "prediction",
                "post",
                f"/{{projectId}}/{_task}/iterations/{{publishedName}}/url{_suffix}",
                f"{_name}Url{_op}",
                [APP],
                _ref("ImageUrl"),
                {200: _ref("ImagePrediction")},
            )
        )

_PATH_PARAMS = {
    "projectId": _ID,
    "domainId": _ID,
    "imageId": _ID,
    "iterationId": _ID,
    "tagId": _ID,
    "publishedName": {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,50}$"},
}


def _operation(api: str, op_id: str, path: str, query: list[Q], body: Any, responses: dict[int, Any]) -> dict[str, Any]:
    params = [
        {"name": name, "in": "path", "required": True, "schema": schema}
        for name, schema in _PATH_PARAMS.items()
        if f"{{{name}}}" in path
    ]
    for name, schema, required in query:
        param: dict[str, Any] = {"name": name, "in": "query", "required": required, "schema": schema}
        if schema.get("type") == "array":
            param.update(style="form", explode=False)
        params.append(param)
    out: dict[str, Any] = {
        "operationId": op_id,
        "tags": [api],
        "parameters": params,
        "security": [{"TrainingKey": []}] if api == "training" else [{"PredictionKey": []}],
        "responses": {
            **{
                str(code): {"description": "OK"}
                if schema is None
                else {"description": "OK", "content": {JSON: {"schema": schema}}}
                for code, schema in responses.items()
            },
            "default": {"description": "Error", "content": {JSON: {"schema": _ref("CustomVisionError")}}},
        },
    }
    if body == MULTIPART:
        out["requestBody"] = {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": _obj({"imageData": {"type": "string", "format": "binary"}}, ("imageData",))
                },
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            },
        }
    elif body is not None:
        out["requestBody"] = {"required": False, "content": {JSON: {"schema": body}}}
    return out


def build() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for api, method, path, op_id, query, body, responses in OPERATIONS:
        full = (TRAINING if api == "training" else PREDICTION) + path
        paths.setdefault(full, {})[method] = _operation(api, op_id, path, query, body, responses)
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
