"""Training API contract for regions, iterations (train, get, rename, delete), publish, performance, exports, stubs."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.utils import timezone

from tests.factories import DATASETS, make_tag
from tests.training.builders import add_image, tagged_project

pytestmark = pytest.mark.django_db

ITERATION_KEYS = {
    "id",
    "name",
    "status",
    "created",
    "lastModified",
    "trainedAt",
    "projectId",
    "exportable",
    "exportableTo",
    "domainId",
    "classificationType",
    "trainingType",
    "reservedBudgetInHours",
    "trainingTimeInMinutes",
    "publishName",
    "originalPublishResourceId",
    "customBaseModelInfo",
    "trainingErrorDetails",
}


def _complete(iteration, **metrics):  # type: ignore[no-untyped-def]
    """Move an iteration to Completed as the worker would, with the engine's validation predictions."""
    from training.models import Iteration

    Iteration.objects.filter(id=iteration.id).update(
        status="Completed", started=timezone.now(), finished=timezone.now(), progress=1.0, metrics=metrics or None
    )
    iteration.refresh_from_db()
    return iteration


@pytest.fixture
def trained(owner):  # type: ignore[no-untyped-def]
    """A classification project with a queued iteration moved to Completed, with validation predictions."""
    from training.services import iteration_queue

    project = tagged_project(owner, name="Trees")
    iteration = iteration_queue(project=project, requested_by=owner)
    images = list(project.images.prefetch_related("tags"))
    vps = []
    for image in images[:4]:
        true = image.tags.get().name
        other = "Cherry" if true == "Hemlock" else "Hemlock"
        vps.append(
            {
                "id": str(image.id),
                "tags": [true],
                "boxes": [],
                "predictions": [
                    {"tag": true, "probability": 0.9, "box": None},
                    {"tag": other, "probability": 0.1, "box": None},
                ],
            }
        )
    return project, _complete(iteration, task="classification", tags=["Cherry", "Hemlock"], validation_predictions=vps)


# ---------------------------------------------------------------- regions


def test_create_image_regions_200_then_207_for_duplicates(api, od_project):  # type: ignore[no-untyped-def]
    tag = make_tag(od_project, "fork")
    image = add_image(od_project)
    entry = {"imageId": str(image.id), "tagId": str(tag.id), "left": 0.1, "top": 0.1, "width": 0.5, "height": 0.5}
    response = api.post(f"/projects/{od_project.id}/images/regions", json_body={"regions": [entry]})
    assert response.status_code == 200
    body = response.json()
    (created,) = body["created"]
    assert {"imageId", "regionId", "tagName", "created", "tagId", "left", "top", "width", "height"} == set(created)
    assert body["duplicated"] == [] and body["exceeded"] == []
    again = api.post(f"/projects/{od_project.id}/images/regions", json_body={"regions": [entry]})
    assert again.status_code == 207 and again.json()["duplicated"] == [entry]
    image.refresh_from_db()
    assert image.regions.count() == 1 and image.tags.get() == tag  # the labeler sees it too
    assert api.delete(f"/projects/{od_project.id}/images/regions?regionIds={created['regionId']}").status_code == 204
    assert image.regions.count() == 0


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"left": 1.5}, 400, "BadRequestImageRegions"),
        ({"width": "wide"}, 400, "BadRequestImageRegions"),
        ({"imageId": str(uuid.uuid4())}, 404, "NotFoundImage"),
        ({"tagId": str(uuid.uuid4())}, 404, "NotFoundTag"),
        ({"tagId": "nope"}, 400, "BadRequestInvalidIds"),
    ],
)
def test_create_image_regions_rejects_bad_entries(api, od_project, change, status, code):  # type: ignore[no-untyped-def]
    tag = make_tag(od_project, "fork")
    image = add_image(od_project)
    entry = {"imageId": str(image.id), "tagId": str(tag.id), "left": 0.1, "top": 0.1, "width": 0.5, "height": 0.5}
    response = api.post(f"/projects/{od_project.id}/images/regions", json_body={"regions": [{**entry, **change}]})
    assert (response.status_code, response.json()["code"]) == (status, code)


def test_create_image_regions_batch_limits(api, od_project):  # type: ignore[no-untyped-def]
    assert api.post(f"/projects/{od_project.id}/images/regions", json_body={"regions": []}).status_code == 400
    big = [
        {"imageId": str(uuid.uuid4()), "tagId": str(uuid.uuid4()), "left": 0, "top": 0, "width": 1, "height": 1}
    ] * 65
    response = api.post(f"/projects/{od_project.id}/images/regions", json_body={"regions": big})
    assert response.json()["code"] == "BadRequestExceededBatchSize"
    assert api.delete(f"/projects/{od_project.id}/images/regions").status_code == 400


def test_region_proposals_without_an_iteration_come_from_the_generic_method(api, od_project):  # type: ignore[no-untyped-def]
    image = add_image(od_project, data=(DATASETS / "raccoon" / "images" / "raccoon-1.jpg").read_bytes())
    body = api.post(f"/projects/{od_project.id}/images/{image.id}/regionproposals").json()
    assert (body["projectId"], body["imageId"]) == (str(od_project.id), str(image.id))
    assert 1 <= len(body["proposals"]) <= 20
    confidences = [p["confidence"] for p in body["proposals"]]
    assert confidences == sorted(confidences, reverse=True) and all(0 <= c <= 1 for c in confidences)
    for p in body["proposals"]:
        box = p["boundingBox"]
        assert box["width"] > 0 and box["height"] > 0
        assert box["left"] + box["width"] <= 1.000001 and box["top"] + box["height"] <= 1.000001
    assert api.post(f"/projects/{od_project.id}/images/{uuid.uuid4()}/regionproposals").status_code == 404


# ---------------------------------------------------------------- train and iterations


def test_train_returns_the_new_iteration_as_training(api, owner):  # type: ignore[no-untyped-def]
    project = tagged_project(owner)
    response = api.post(f"/projects/{project.id}/train?reservedBudgetInHours=0&forceTrain=false", data=b"")
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == ITERATION_KEYS
    assert body["status"] == "Training" and body["trainingType"] == "Regular" and body["projectId"] == str(project.id)
    assert [i["id"] for i in api.get(f"/projects/{project.id}/iterations").json()] == [body["id"]]
    assert api.get(f"/projects/{project.id}/iterations/{body['id']}").json()["status"] == "Training"
    again = api.post(f"/projects/{project.id}/train")
    assert again.json()["code"] == "BadRequestTrainingAlreadyInProgress" and again.status_code < 500


def test_train_advanced_with_budget(api, owner):  # type: ignore[no-untyped-def]
    project = tagged_project(owner)
    body = api.post(f"/projects/{project.id}/train?trainingType=Advanced&reservedBudgetInHours=2").json()
    assert (body["trainingType"], body["reservedBudgetInHours"]) == ("Advanced", 2)


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("trainingType=Turbo", "BadRequestInvalidTrainingType"),
        ("reservedBudgetInHours=x", "BadRequest"),
        ("forceTrain=maybe", "BadRequest"),
    ],
)
def test_train_rejects_bad_query(api, owner, query, code):  # type: ignore[no-untyped-def]
    project = tagged_project(owner)
    response = api.post(f"/projects/{project.id}/train?{query}")
    assert (response.status_code, response.json()["code"]) == (400, code)


def test_train_without_enough_data_is_a_validation_error(api, project):  # type: ignore[no-untyped-def]
    response = api.post(f"/projects/{project.id}/train")
    assert response.status_code == 400
    assert "TrainingValidationFailed" in response.json()["code"]


def test_rename_and_delete_iteration(api, trained):  # type: ignore[no-untyped-def]
    project, iteration = trained
    base = f"/projects/{project.id}/iterations/{iteration.id}"
    assert api.patch(base, json_body={"name": "Best"}).json()["name"] == "Best"
    assert api.patch(base, json_body={"name": ""}).json()["code"] == "BadRequestIterationName"
    assert api.delete(base).status_code == 204
    assert api.get(base).json()["code"] == "NotFoundIteration"


def test_completed_iteration_shape(api, trained):  # type: ignore[no-untyped-def]
    project, iteration = trained
    body = api.get(f"/projects/{project.id}/iterations/{iteration.id}").json()
    assert body["status"] == "Completed" and body["exportable"] is True and body["trainedAt"].endswith("Z")
    assert body["classificationType"] == "Multiclass"


def test_publish_is_bare_true_and_unpublish_is_204(api, trained):  # type: ignore[no-untyped-def]
    project, iteration = trained
    base = f"/projects/{project.id}/iterations/{iteration.id}/publish"
    response = api.post(f"{base}?publishName=classifyModel&predictionId=/subscriptions/x")
    assert response.status_code == 200 and response.content == b"true"
    assert api.get(f"/projects/{project.id}/iterations/{iteration.id}").json()["publishName"] == "classifyModel"
    refused = api.delete(f"/projects/{project.id}/iterations/{iteration.id}")
    assert refused.json()["code"] == "BadRequestIterationIsPublished"
    assert api.delete(base).status_code == 204
    assert api.delete(base).json()["code"] == "BadRequestIterationNotPublished"


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("predictionId=x", "BadRequestInvalidPublishName"),
        ("publishName=a", "BadRequestInvalidPublishTarget"),
        ("publishName=a/b&predictionId=x", "BadRequestInvalidPublishName"),
    ],
)
def test_publish_rejects_bad_query(api, trained, query, code):  # type: ignore[no-untyped-def]
    project, iteration = trained
    response = api.post(f"/projects/{project.id}/iterations/{iteration.id}/publish?{query}")
    assert (response.status_code, response.json()["code"]) == (400, code)


def test_publishing_an_untrained_iteration_is_refused(api, owner):  # type: ignore[no-untyped-def]
    project = tagged_project(owner)
    it = api.post(f"/projects/{project.id}/train").json()
    response = api.post(f"/projects/{project.id}/iterations/{it['id']}/publish?publishName=a&predictionId=x")
    assert (response.status_code, response.json()["code"]) == (400, "BadRequestIterationIsNotTrained")


# ---------------------------------------------------------------- performance


def test_performance_shape_and_threshold(api, trained):  # type: ignore[no-untyped-def]
    project, iteration = trained
    base = f"/projects/{project.id}/iterations/{iteration.id}/performance"
    body = api.get(f"{base}?threshold=0.5&overlapThreshold=0.3").json()
    assert set(body) == {
        "perTagPerformance",
        "precision",
        "precisionStdDeviation",
        "recall",
        "recallStdDeviation",
        "averagePrecision",
    }
    assert body["precision"] == 1.0 and body["recall"] == 1.0
    tag_ids = {str(t.id) for t in project.tags.all()}
    assert {t["id"] for t in body["perTagPerformance"]} <= tag_ids
    assert api.get(f"{base}?threshold=0.95").json()["recall"] == 0.0
    assert api.get(f"{base}?threshold=2").json()["code"] == "BadRequest"


def test_image_performances_and_count(api, trained):  # type: ignore[no-untyped-def]
    project, iteration = trained
    base = f"/projects/{project.id}/iterations/{iteration.id}/performance/images"
    assert api.get(f"{base}/count").json() == 4
    page = api.get(f"{base}?take=2&skip=0").json()
    assert len(page) == 2
    assert page[0]["predictions"][0]["probability"] == 0.9 and page[0]["imageUri"]
    counts = {t.name: api.get(f"{base}/count?tagIds={t.id}").json() for t in project.tags.all()}
    assert sum(counts.values()) == 4 and counts == {"Cherry": 4, "Hemlock": 0}  # the 4 newest images are Cherry


def test_performance_of_an_untrained_iteration_is_400(api, owner):  # type: ignore[no-untyped-def]
    project = tagged_project(owner)
    it = api.post(f"/projects/{project.id}/train").json()
    response = api.get(f"/projects/{project.id}/iterations/{it['id']}/performance")
    assert (response.status_code, response.json()["code"]) == (400, "BadRequestIterationIsNotTrained")


# ---------------------------------------------------------------- exports and not-yet operations


def test_exports(api, trained):  # type: ignore[no-untyped-def]
    project, iteration = trained
    base = f"/projects/{project.id}/iterations/{iteration.id}/export"
    assert api.get(base).json() == []
    assert api.post(f"{base}?platform=CoreML").json()["code"] == "BadRequestProjectUnsupportedExportPlatform"
    assert api.post(f"{base}?platform=Nope").status_code == 400
    onnx = api.post(f"{base}?platform=ONNX")
    assert onnx.status_code in (200, 400)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/images/predictions"),  # no body
        ("POST", "/images/suggested"),
        ("POST", "/images/suggested/count"),
        ("POST", f"/tagsandregions/suggestions?imageIds={uuid.uuid4()}"),
        ("DELETE", "/predictions"),  # no ids
        ("POST", "/predictions/query"),  # body of the wrong type (below)
        ("GET", "/artifacts?path=x"),
    ],
)
def test_operations_without_a_feature_or_input_answer_4xx_azure_errors(api, project, method, path):  # type: ignore[no-untyped-def]
    body = [1] if path.endswith("query") else None
    response = api.call(method, f"/projects/{project.id}{path}", json_body=body)
    assert 400 <= response.status_code < 500
    assert set(response.json()) == {"code", "message"}


def test_quick_test_needs_a_trained_iteration(api, project):  # type: ignore[no-untyped-def]
    response = api.post(f"/projects/{project.id}/quicktest/image", data=b"x", content_type="application/octet-stream")
    assert (response.status_code, response.json()["code"]) == (404, "NotFoundProjectDefaultIteration")


def test_prediction_for_an_unknown_publish_name_is_404(api, trained):  # type: ignore[no-untyped-def]
    project, _ = trained
    response = api.post(
        f"/{project.id}/classify/iterations/nope/image",
        data=b"x",
        content_type="application/octet-stream",
        prediction=True,
    )
    assert (response.status_code, response.json()["code"]) == (404, "NotFound")


def test_prediction_on_the_wrong_task_is_400(api, trained):  # type: ignore[no-untyped-def]
    project, iteration = trained
    api.post(f"/projects/{project.id}/iterations/{iteration.id}/publish?publishName=m&predictionId=x")
    response = api.post(
        f"/{project.id}/detect/iterations/m/image", data=b"x", content_type="application/octet-stream", prediction=True
    )
    assert response.status_code == 400


@pytest.mark.parametrize("token", [{"continuation": -1576}, {"maxCount": "Infinity"}, {"continuation": "x"}])
def test_query_predictions_with_a_bad_page_token_is_a_400(api, project, token):  # type: ignore[no-untyped-def]
    # found by schemathesis: a negative continuation used to reach a negative queryset slice (a 500)
    response = api.post(f"/projects/{project.id}/predictions/query", json_body=token)
    assert (response.status_code, response.json()["code"]) == (400, "BadRequestPredictionInvalidQueryParameters")


@pytest.mark.parametrize("read", ["get_iteration", "get_iterations", "train_project"])
def test_api_reads_fail_an_iteration_whose_worker_is_gone(api, owner, read):  # type: ignore[no-untyped-def]
    """No portal page open, no worker alive to reap: the API's own reads notice the lost worker (issue #11.2)."""
    from training.models import Iteration, WorkerHeartbeat
    from training.services import iteration_queue

    project = tagged_project(owner, name="Trees")
    lost = iteration_queue(project=project, requested_by=owner)
    Iteration.objects.filter(id=lost.id).update(
        started=timezone.now() - timezone.timedelta(seconds=120), worker_hostname="w1@gone", worker_pid=4242,
        worker_parent_pid=4241,
    )
    WorkerHeartbeat.objects.create(hostname="w1@gone", pid=4241,
                                   last_seen=timezone.now() - timezone.timedelta(seconds=45))
    if read == "get_iteration":
        response = api.get(f"/projects/{project.id}/iterations/{lost.id}")
        assert response.status_code == 200
        body = response.json()
    elif read == "get_iterations":
        response = api.get(f"/projects/{project.id}/iterations")
        assert response.status_code == 200
        body = next(i for i in response.json() if i["id"] == str(lost.id))
    else:
        response = api.post(f"/projects/{project.id}/train")
        assert response.status_code == 200, response.json()
        assert response.json()["status"] == "Training" and response.json()["id"] != str(lost.id)
        body = api.get(f"/projects/{project.id}/iterations/{lost.id}").json()
    assert body["status"] == "Failed"
    assert body["trainingErrorDetails"].startswith("Worker lost: w1@gone stopped during training")


# ---------------------------------------------------------------- selectedTags, notificationEmailAddress


def _three_tag_project(owner):  # type: ignore[no-untyped-def]
    """Hemlock and Cherry with 5 images each, Oak with only 2 (too few to train on)."""
    project = tagged_project(owner, name="Trees")
    oak = make_tag(project, "Oak")
    for _ in range(2):
        add_image(project, tags=[oak])
    return project


@pytest.mark.parametrize("how", ["query", "body"])
def test_train_on_selected_tags_only(api, owner, how):  # type: ignore[no-untyped-def]
    from training.models import Iteration

    project = _three_tag_project(owner)
    refused = api.post(f"/projects/{project.id}/train").json()  # Oak has too few images
    assert refused["code"] == "BadRequestClassificationTrainingValidationFailed"
    ids = [str(project.tags.get(name=n).id) for n in ("Hemlock", "Cherry")]
    if how == "query":
        response = api.post(f"/projects/{project.id}/train?selectedTags={','.join(ids)}")
    else:  # the SDK's TrainingParameters body (v3.3+)
        response = api.post(f"/projects/{project.id}/train", json_body={"selectedTags": ids})
    assert response.status_code == 200, response.json()
    iteration = Iteration.objects.get(id=response.json()["id"])
    assert sorted(t["name"] for t in iteration.snapshot["tags"]) == ["Cherry", "Hemlock"]
    assert iteration.image_count == 10 and {t for i in iteration.snapshot["images"] for t in i["tags"]} == set(ids)


def test_selected_tags_are_validated_as_the_training_set(api, owner):  # type: ignore[no-untyped-def]
    project = _three_tag_project(owner)
    hemlock = project.tags.get(name="Hemlock").id
    response = api.post(f"/projects/{project.id}/train?selectedTags={hemlock}")
    assert response.status_code == 400
    assert response.json()["code"] == "BadRequestClassificationTrainingValidationFailed"
    assert "at least 2 tags" in response.json()["message"]


@pytest.mark.parametrize(
    ("query", "body", "code"),
    [
        ("selectedTags=6a3f2e1c-0000-4000-8000-000000000001", None, "BadRequestInvalidIds"),
        ("selectedTags=not-a-guid", None, "BadRequestInvalidIds"),
        ("", {"selectedTags": ["6a3f2e1c-0000-4000-8000-000000000002"]}, "BadRequestInvalidIds"),
        ("", {"selectedTags": "Hemlock"}, "BadRequestInvalidIds"),
        ("notificationEmailAddress=not-an-address", None, "BadRequestInvalidEmailAddress"),
        (f"notificationEmailAddress={'a' * 250}%40example.com", None, "BadRequestInvalidEmailAddress"),
    ],
)
def test_train_rejects_unknown_selected_tags_and_bad_addresses(api, owner, query, body, code):  # type: ignore[no-untyped-def]
    from training.models import Iteration

    project = tagged_project(owner)
    response = api.post(f"/projects/{project.id}/train?{query}", json_body=body)
    assert (response.status_code, response.json()["code"]) == (400, code)
    assert not Iteration.objects.exists()


def test_train_stores_the_notification_address(api, owner):  # type: ignore[no-untyped-def]
    from training.models import Iteration

    project = tagged_project(owner)
    response = api.post(f"/projects/{project.id}/train?notificationEmailAddress=ops%40example.com")
    assert response.status_code == 200, response.json()
    assert Iteration.objects.get(id=response.json()["id"]).notification_email == "ops@example.com"


# ---------------------------------------------------------------- delete_project while published, publish overwrite


def test_delete_project_is_refused_while_an_iteration_is_published(api, trained):  # type: ignore[no-untyped-def]
    from projects.models import Project

    project, iteration = trained
    publish = f"/projects/{project.id}/iterations/{iteration.id}/publish"
    assert api.post(f"{publish}?publishName=prod&predictionId=x").status_code == 200
    refused = api.delete(f"/projects/{project.id}")
    assert (refused.status_code, refused.json()["code"]) == (400, "BadRequestIterationIsPublished")
    assert "prod" in refused.json()["message"] and Project.objects.filter(id=project.id).exists()
    assert api.delete(publish).status_code == 204
    assert api.delete(f"/projects/{project.id}").status_code == 204
    assert not Project.objects.filter(id=project.id).exists()


def test_publish_with_overwrite_moves_the_name(api, trained, owner):  # type: ignore[no-untyped-def]
    from training.services import iteration_queue

    project, first = trained
    second = _complete(iteration_queue(project=project, requested_by=owner, force=True))
    url = f"/projects/{project.id}/iterations/{{}}/publish?publishName=prod&predictionId=x"
    assert api.post(url.format(first.id)).status_code == 200
    for query in ("", "&overwrite=false"):
        refused = api.post(url.format(second.id) + query)
        assert (refused.status_code, refused.json()["code"]) == (400, "BadRequestInvalidPublishName")
    moved = api.post(url.format(second.id) + "&overwrite=true")
    assert moved.status_code == 200 and moved.content == b"true"
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.publish_name, second.publish_name) == (None, "prod") and first.published_at is None


# ---------------------------------------------------------------- k-fold standard deviations


def test_performance_std_deviation_over_the_k_fold_folds(api, owner):  # type: ignore[no-untyped-def]
    """precision/recallStdDeviation: the spread over the folds of a k-fold iteration, at the query's threshold."""
    import numpy as np

    from training.ml.metrics import compute_metrics
    from training.services import iteration_queue

    project = tagged_project(owner, name="Trees")
    iteration = iteration_queue(project=project, requested_by=owner)
    by_tag: dict[str, list[Any]] = {}
    for image in project.images.prefetch_related("tags").order_by("created", "id"):
        by_tag.setdefault(image.tags.get().name, []).append(image)
    # Both tags in both folds (a tag counts only in the folds where it has validation images): h c h c | h c h c
    hemlock, cherry = by_tag["Hemlock"], by_tag["Cherry"]
    images = [hemlock[0], cherry[0], hemlock[1], cherry[1], hemlock[2], cherry[2], hemlock[3], cherry[3]]
    vps = []
    for n, image in enumerate(images):
        true = image.tags.get().name
        other = "Cherry" if true == "Hemlock" else "Hemlock"
        p = 0.2 if n in (5, 7) else 0.9  # fold 1 all right; fold 2 two wrong
        vps.append({"id": str(image.id), "tags": [true], "boxes": [],
                    "predictions": [{"tag": true, "probability": p, "box": None},
                                    {"tag": other, "probability": 1 - p, "box": None}]})
    ids = [v["id"] for v in vps]
    folds = [{"train_ids": ids[4:], "val_ids": ids[:4]}, {"train_ids": ids[:4], "val_ids": ids[4:]}]
    tags = ["Cherry", "Hemlock"]
    _complete(iteration, task="classification", tags=tags, validation_predictions=vps,
              split={"method": "kfold", "seed": 0, "k": 2, "train_ids": [], "val_ids": sorted(ids), "folds": folds},
              kfold={"k": 2, "folds": [{"accuracy": 1.0, "ap": 1.0}, {"accuracy": 0.5, "ap": 0.75}]})
    body = api.get(f"/projects/{project.id}/iterations/{iteration.id}/performance?threshold=0.5").json()
    assert body["precisionStdDeviation"] == pytest.approx(0.25)  # folds: precision 1.0 and 0.5
    assert body["recallStdDeviation"] == pytest.approx(0.25)
    per_fold = [compute_metrics("classification", tags, vps[:4]), compute_metrics("classification", tags, vps[4:])]
    for row in body["perTagPerformance"]:
        folds_rows = [next(r for r in m["per_tag"] if r["tag"] == row["name"]) for m in per_fold]
        assert row["precisionStdDeviation"] == pytest.approx(np.std([r["precision"] for r in folds_rows]))
        assert row["recallStdDeviation"] == pytest.approx(np.std([r["recall"] for r in folds_rows]))
    assert any(row["recallStdDeviation"] > 0 for row in body["perTagPerformance"])


def test_performance_std_deviation_is_zero_without_folds(api, trained):  # type: ignore[no-untyped-def]
    project, iteration = trained
    body = api.get(f"/projects/{project.id}/iterations/{iteration.id}/performance").json()
    assert body["precisionStdDeviation"] == 0.0 and body["recallStdDeviation"] == 0.0


# ---------------------------------------------------------------- reads "as trained" (iterationId)


def test_tags_and_images_with_iteration_id_answer_as_trained(api, owner):  # type: ignore[no-untyped-def]
    """iterationId reads the iteration's frozen data: its tags (trained names, trained counts) and images (only
    those it trained on, with the tags they had), however the workspace changed since."""
    from projects.services import images_delete, images_metadata_update, images_tag, images_untag, tag_update
    from training.services import iteration_queue

    project = tagged_project(owner, name="Trees")  # 5 Hemlock + 5 Cherry
    hemlock, cherry = project.tags.get(name="Hemlock"), project.tags.get(name="Cherry")
    iteration = iteration_queue(project=project, requested_by=owner)
    hemlocks = sorted(hemlock.images.values_list("id", flat=True), key=str)
    # The workspace moves on: a new tag with 2 images, an untagged image, a retag, a rename, a deletion.
    oak = make_tag(project, "Oak")
    oaks = [add_image(project, tags=[oak]).id for _ in range(2)]
    add_image(project)
    images_untag(project=project, image_ids=[hemlocks[0]], tag_ids=[hemlock.id])
    images_tag(project=project, image_ids=[hemlocks[0]], tag_ids=[cherry.id])
    tag_update(tag=cherry, name="Sakura")
    images_delete(project=project, image_ids=[hemlocks[1]])

    base, it = f"/projects/{project.id}", f"iterationId={iteration.id}"
    now = {t["name"]: t["imageCount"] for t in api.get(f"{base}/tags").json()}
    assert now == {"Hemlock": 3, "Oak": 2, "Sakura": 6}
    trained = api.get(f"{base}/tags?{it}").json()
    assert [(t["id"], t["name"], t["imageCount"]) for t in trained] == [
        (str(cherry.id), "Cherry", 5), (str(hemlock.id), "Hemlock", 5)
    ]
    assert api.get(f"{base}/tags/{hemlock.id}?{it}").json()["imageCount"] == 5
    assert api.get(f"{base}/tags/{cherry.id}?{it}").json()["name"] == "Cherry"
    missing = api.get(f"{base}/tags/{oak.id}?{it}")
    assert (missing.status_code, missing.json()["code"]) == (404, "NotFoundTag")

    assert api.get(f"{base}/images/tagged/count").json() == 11
    assert api.get(f"{base}/images/tagged/count?{it}").json() == 10  # as trained, the deleted image included
    assert api.get(f"{base}/images/tagged/count?{it}&tagIds={hemlock.id}").json() == 5
    assert api.get(f"{base}/images/tagged/count?{it}&tagIds={oak.id}").json() == 0
    assert api.get(f"{base}/images/untagged/count?{it}").json() == 0
    assert api.get(f"{base}/images/count?{it}").json() == 10
    assert api.get(f"{base}/images/untagged?{it}").json() == []

    listed = api.get(f"{base}/images/tagged?{it}&take=50").json()
    assert len(listed) == 9 and not {str(i) for i in oaks} & {i["id"] for i in listed}  # the deleted one is gone
    retagged = next(i for i in listed if i["id"] == str(hemlocks[0]))
    assert [(t["tagId"], t["tagName"]) for t in retagged["tags"]] == [(str(hemlock.id), "Hemlock")]
    by_tag = api.get(f"{base}/images?{it}&tagIds={hemlock.id}&take=50").json()
    assert {i["id"] for i in by_tag} == {str(i) for i in hemlocks if i != hemlocks[1]}
    assert len(api.get(f"{base}/images?{it}&take=3&skip=7").json()) == 2
    oldest = api.get(f"{base}/images?{it}&orderBy=Oldest&take=50").json()
    assert [i["id"] for i in oldest] == [i["id"] for i in reversed(api.get(f"{base}/images?{it}&take=50").json())]

    ids = ",".join([str(oaks[0]), str(hemlocks[0]), str(hemlocks[2])])
    by_ids = api.get(f"{base}/images/id?{it}&imageIds={ids}").json()
    assert [i["id"] for i in by_ids] == [str(hemlocks[0]), str(hemlocks[2])]
    assert by_ids[0]["tags"][0]["tagName"] == "Hemlock"
    images_metadata_update(project=project, image_ids=[hemlocks[2]], metadata={"camera": "north"})
    north = "$filter=camera%20eq%20%27north%27"
    assert [i["id"] for i in api.get(f"{base}/images/tagged?{it}&{north}").json()] == [str(hemlocks[2])]
    assert api.get(f"{base}/images/tagged/count?{it}&{north}").json() == 1
    unknown = api.get(f"{base}/tags?iterationId={uuid.uuid4()}")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "NotFoundIteration")


def test_detection_images_with_iteration_id_show_the_trained_boxes(api, owner, od_project, settings):  # type: ignore[no-untyped-def]
    from labeling.models import Region
    from labeling.services import region_update
    from training.services import iteration_queue

    settings.TAGSIGHT_MIN_BOXES_PER_TAG = 1
    project = od_project
    fork = make_tag(project, "fork")
    box = {"tag": fork.id, "left": 0.1, "top": 0.2, "width": 0.3, "height": 0.4}
    moved, kept = (add_image(project, regions=[box]) for _ in range(2))
    iteration = iteration_queue(project=project, requested_by=owner)
    region_update(region=Region.objects.get(image=moved), left=0.5)
    base, it = f"/projects/{project.id}/images/tagged", f"iterationId={iteration.id}"
    trained = {i["id"]: i["regions"] for i in api.get(f"{base}?{it}").json()}
    assert trained[str(moved.id)][0]["left"] == 0.1 and trained[str(moved.id)][0]["regionId"] is None
    assert trained[str(kept.id)][0]["regionId"] == str(Region.objects.get(image=kept).id)
    assert trained[str(kept.id)][0]["tagName"] == "fork"
    now = {i["id"]: i["regions"] for i in api.get(base).json()}
    assert now[str(moved.id)][0]["left"] == 0.5
