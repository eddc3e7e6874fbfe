"""The route table of the Azure-compatible API: every operation declared once, next to its path.

Each entry is a Route (portal.azure.operations): a path template relative to its API's base and one
Operation per HTTP method, with Azure's operation id, the handler, query parameters, body and success
statuses. portal.azure.urls mounts these under every version prefix, Django dispatches through them, and
portal.azure.openapi writes /customvision/openapi.json from them. tests/azure_contract/test_openapi_spec.py
checks them against the compatibility spec (shared/api/customvision-v3.md).
"""

from __future__ import annotations

from functools import partial

from health import suggestions_api
from labeling import api as labeling_api
from portal.azure.operations import MULTIPART, Param, Route, one_of, op, route
from predictions import api as prediction_api
from projects import api as projects_api
from projects import api_images as images_api
from training import api as training_api

training_route = partial(route, "training")
prediction_route = partial(route, "prediction")

# Shorthands for what many operations share.
ITER = Param("iterationId", "uuid")
IDS = "[uuid]"  # a comma-separated list of GUIDs
TAGS = Param("tagIds", IDS)
TAGGING = Param("taggingStatus", one_of("All", "Tagged", "Untagged"))
FILTER = Param("$filter")  # metadata: key eq|ne 'value', and/or, parentheses (portal/azure/odata.py)
ORDER = Param("orderBy", one_of("Newest", "Oldest"))
PAGE = (
    Param("take", {"type": "integer", "minimum": 0, "maximum": 256}),
    Param("skip", {"type": "integer", "minimum": 0}),
)
APP = Param("application")
NO_CONTENT = {204: None}
IMAGES_CREATED = {200: "ImageCreateSummary", 207: "ImageCreateSummary"}  # 207: some entries failed
PREDICTED = {200: "ImagePrediction"}


TRAINING: list[Route] = [
    training_route("domains", op("GET", "GetDomains", projects_api.get_domains, {200: "[Domain]"})),
    training_route("domains/{domainId}", op("GET", "GetDomain", projects_api.get_domain, {200: "Domain"})),
    training_route(
        "projects",
        op("GET", "GetProjects", projects_api.get_projects, {200: "[Project]"}),
        op(
            "POST",
            "CreateProject",
            projects_api.create_project,
            {200: "Project"},
            query=[
                Param("name", required=True),
                Param("description"),
                Param("domainId", "uuid"),
                Param("classificationType", one_of("Multiclass", "Multilabel")),
            ],
            body="CreateProjectOptions",
        ),
    ),
    training_route(
        "projects/import",
        op(
            "POST",
            "ImportProject",
            projects_api.import_project,
            {200: "Project"},
            query=[Param("token", required=True), Param("name")],
        ),
    ),
    training_route(
        "projects/{projectId}",
        op("GET", "GetProject", projects_api.get_project, {200: "Project"}),
        op("PATCH", "UpdateProject", projects_api.update_project, {200: "Project"}, body="Project"),
        op("DELETE", "DeleteProject", projects_api.delete_project, NO_CONTENT),
    ),
    training_route(
        "projects/{projectId}/artifacts",
        op("GET", "GetArtifact", training_api.get_artifact, {200: None}, query=[Param("path", required=True)]),
    ),
    training_route(
        "projects/{projectId}/export", op("GET", "ExportProject", projects_api.export_project, {200: "ProjectExport"})
    ),
    training_route(
        "projects/{projectId}/images",
        op(
            "GET",
            "GetImages",
            images_api.get_images,
            {200: "[Image]"},
            query=[ITER, TAGS, TAGGING, FILTER, ORDER, *PAGE],
        ),
        op(
            "POST",
            "CreateImagesFromData",
            images_api.create_images_from_data,
            IMAGES_CREATED,
            query=[TAGS],
            body=MULTIPART,
        ),
        op(
            "DELETE",
            "DeleteImages",
            images_api.delete_images,
            {202: None, 204: None},
            query=[Param("imageIds", IDS), Param("allImages", "bool"), Param("allIterations", "bool")],
        ),
    ),
    training_route(
        "projects/{projectId}/images/count",
        op("GET", "GetImageCount", images_api.get_image_count, {200: "int"}, query=[ITER, TAGGING, FILTER, TAGS]),
    ),
    training_route(
        "projects/{projectId}/images/id",
        op(
            "GET",
            "GetImagesByIds",
            images_api.get_images_by_ids,
            {200: "[Image]"},
            query=[Param("imageIds", IDS), ITER],
        ),
    ),
    training_route(
        "projects/{projectId}/images/files",
        op(
            "POST",
            "CreateImagesFromFiles",
            images_api.create_images_from_files,
            IMAGES_CREATED,
            body="ImageFileCreateBatch",
        ),
    ),
    training_route(
        "projects/{projectId}/images/urls",
        op(
            "POST",
            "CreateImagesFromUrls",
            images_api.create_images_from_urls,
            IMAGES_CREATED,
            body="ImageUrlCreateBatch",
        ),
    ),
    training_route(
        "projects/{projectId}/images/predictions",
        op(
            "POST",
            "CreateImagesFromPredictions",
            prediction_api.create_images_from_predictions,
            IMAGES_CREATED,
            body="ImageIdCreateBatch",
        ),
    ),
    training_route(
        "projects/{projectId}/images/metadata",
        op(
            "POST",
            "UpdateImageMetadata",
            images_api.update_image_metadata,
            {200: "ImageMetadataUpdateSummary", 207: "ImageMetadataUpdateSummary"},
            query=[Param("imageIds", IDS, required=True)],
            body="{str}",
        ),
    ),
    training_route(
        "projects/{projectId}/images/regions",
        op(
            "POST",
            "CreateImageRegions",
            labeling_api.create_image_regions,
            {200: "ImageRegionCreateSummary", 207: "ImageRegionCreateSummary"},
            body="ImageRegionCreateBatch",
        ),
        op(
            "DELETE",
            "DeleteImageRegions",
            labeling_api.delete_image_regions,
            NO_CONTENT,
            query=[Param("regionIds", IDS, required=True)],
        ),
    ),
    training_route(
        "projects/{projectId}/images/suggested",
        op(
            "POST",
            "QuerySuggestedImages",
            suggestions_api.query_suggested_images,
            {200: "SuggestedTagAndRegionQuery"},
            query=[ITER],
            body="SuggestedTagAndRegionQueryToken",
        ),
    ),
    training_route(
        "projects/{projectId}/images/suggested/count",
        op(
            "POST",
            "QuerySuggestedImageCount",
            suggestions_api.query_suggested_image_count,
            {200: "{int}"},
            query=[ITER],
            body="TagFilter",
        ),
    ),
    training_route(
        "projects/{projectId}/images/tagged",
        op("GET", "GetTaggedImages", images_api.get_tagged_images, {200: "[Image]"}, query=[ITER, TAGS, ORDER, *PAGE]),
    ),
    training_route(
        "projects/{projectId}/images/tagged/count",
        op("GET", "GetTaggedImageCount", images_api.get_tagged_image_count, {200: "int"}, query=[ITER, TAGS]),
    ),
    training_route(
        "projects/{projectId}/images/untagged",
        op("GET", "GetUntaggedImages", images_api.get_untagged_images, {200: "[Image]"}, query=[ITER, ORDER, *PAGE]),
    ),
    training_route(
        "projects/{projectId}/images/untagged/count",
        op("GET", "GetUntaggedImageCount", images_api.get_untagged_image_count, {200: "int"}, query=[ITER]),
    ),
    training_route(
        "projects/{projectId}/images/tags",
        op(
            "POST",
            "CreateImageTags",
            images_api.create_image_tags,
            {200: "ImageTagCreateSummary"},
            body="ImageTagCreateBatch",
        ),
        op(
            "DELETE",
            "DeleteImageTags",
            images_api.delete_image_tags,
            NO_CONTENT,
            query=[Param("imageIds", IDS, required=True), Param("tagIds", IDS, required=True)],
        ),
    ),
    training_route(
        "projects/{projectId}/images/{imageId}/regionproposals",
        op("POST", "GetImageRegionProposals", labeling_api.get_image_region_proposals, {200: "ImageRegionProposal"}),
    ),
    training_route(
        "projects/{projectId}/iterations", op("GET", "GetIterations", training_api.get_iterations, {200: "[Iteration]"})
    ),
    training_route(
        "projects/{projectId}/iterations/{iterationId}",
        op("GET", "GetIteration", training_api.get_iteration, {200: "Iteration"}),
        op("PATCH", "UpdateIteration", training_api.update_iteration, {200: "Iteration"}, body="Iteration"),
        op("DELETE", "DeleteIteration", training_api.delete_iteration, NO_CONTENT),
    ),
    training_route(
        "projects/{projectId}/iterations/{iterationId}/export",
        op("GET", "GetExports", prediction_api.get_exports, {200: "[Export]"}),
        op(
            "POST",
            "ExportIteration",
            prediction_api.export_iteration,
            {200: "Export"},
            query=[Param("platform", required=True), Param("flavor")],
        ),
    ),
    training_route(
        "projects/{projectId}/iterations/{iterationId}/performance",
        op(
            "GET",
            "GetIterationPerformance",
            training_api.get_iteration_performance,
            {200: "IterationPerformance"},
            query=[Param("threshold", "float"), Param("overlapThreshold", "float")],
        ),
    ),
    training_route(
        "projects/{projectId}/iterations/{iterationId}/performance/images",
        op(
            "GET",
            "GetImagePerformances",
            training_api.get_image_performances,
            {200: "[ImagePerformance]"},
            query=[TAGS, ORDER, *PAGE],
        ),
    ),
    training_route(
        "projects/{projectId}/iterations/{iterationId}/performance/images/count",
        op("GET", "GetImagePerformanceCount", training_api.get_image_performance_count, {200: "int"}, query=[TAGS]),
    ),
    training_route(
        "projects/{projectId}/iterations/{iterationId}/publish",
        op(
            "POST",
            "PublishIteration",
            training_api.publish_iteration,
            {200: "bool"},
            query=[
                Param("publishName", required=True),
                Param("predictionId", required=True),
                Param("overwrite", "bool"),
            ],
        ),
        op("DELETE", "UnpublishIteration", training_api.unpublish_iteration, NO_CONTENT),
    ),
    training_route(
        "projects/{projectId}/predictions",
        op(
            "DELETE",
            "DeletePrediction",
            prediction_api.delete_prediction,
            NO_CONTENT,
            query=[Param("ids", IDS, required=True)],
        ),
    ),
    training_route(
        "projects/{projectId}/predictions/query",
        op(
            "POST",
            "QueryPredictions",
            prediction_api.query_predictions,
            {200: "PredictionQueryResult"},
            body="PredictionQueryToken",
        ),
    ),
    training_route(
        "projects/{projectId}/quicktest/image",
        op(
            "POST",
            "QuickTestImage",
            prediction_api.quick_test_image,
            PREDICTED,
            query=[ITER, Param("store", "bool")],
            body=MULTIPART,
        ),
    ),
    training_route(
        "projects/{projectId}/quicktest/url",
        op(
            "POST",
            "QuickTestImageUrl",
            prediction_api.quick_test_image_url,
            PREDICTED,
            query=[ITER, Param("store", "bool")],
            body="ImageUrl",
        ),
    ),
    training_route(
        "projects/{projectId}/tags",
        op("GET", "GetTags", projects_api.get_tags, {200: "[Tag]"}, query=[ITER]),
        op(
            "POST",
            "CreateTag",
            projects_api.create_tag,
            {200: "Tag"},
            query=[
                Param("name", required=True),
                Param("description"),
                Param("type", one_of("Regular", "Negative", "GeneralProduct")),
            ],
        ),
    ),
    training_route(
        "projects/{projectId}/tags/{tagId}",
        op("GET", "GetTag", projects_api.get_tag, {200: "Tag"}, query=[ITER]),
        op("PATCH", "UpdateTag", projects_api.update_tag, {200: "Tag"}, body="Tag"),
        op("DELETE", "DeleteTag", projects_api.delete_tag, NO_CONTENT),
    ),
    training_route(
        "projects/{projectId}/tagsandregions/suggestions",
        op(
            "POST",
            "SuggestTagsAndRegions",
            suggestions_api.suggest_tags_and_regions,
            {200: "[SuggestedTagAndRegion]"},
            query=[ITER, Param("imageIds", IDS, required=True)],
        ),
    ),
    training_route(
        "projects/{projectId}/train",
        op(
            "POST",
            "TrainProject",
            training_api.train_project,
            {200: "Iteration"},
            query=[
                Param("trainingType", one_of("Regular", "Advanced")),
                Param("reservedBudgetInHours", "int"),
                Param("forceTrain", "bool"),
                Param("notificationEmailAddress"),
            ],
            body="TrainingParameters",
        ),
    ),
]


def _published(task: str, verb: str) -> list[Route]:
    """/{projectId}/{classify|detect}/iterations/{publishedName}/...: the handlers get ``task`` as an argument."""
    base = "{projectId}/" + task + "/iterations/{publishedName}"
    return [
        prediction_route(
            f"{base}/{source}{suffix}",
            op("POST", f"{verb}Image{name}", handler, PREDICTED, query=[APP], body=body),
            task=task,
        )
        for source, name, body, suffix, handler in (
            ("image", "", MULTIPART, "", prediction_api.predict_image),
            ("image", "WithNoStore", MULTIPART, "/nostore", prediction_api.predict_image_nostore),
            ("url", "Url", "ImageUrl", "", prediction_api.predict_url),
            ("url", "UrlWithNoStore", "ImageUrl", "/nostore", prediction_api.predict_url_nostore),
        )
    ]


PREDICTION: list[Route] = [*_published("classify", "Classify"), *_published("detect", "Detect")]
