"""Every route: a missing or wrong key is a 401, another user's project is a 404, both as CustomVisionError JSON.

Also: every version prefix, case-insensitive segments, a doubled slash, unknown paths answer JSON.
"""

from __future__ import annotations

import uuid

import pytest

pytestmark = pytest.mark.django_db

P = "{project}"
IT = "{iteration}"
# (method, path after the training base) for every Training operation of the spec.
TRAINING_ROUTES = [
    ("GET", "/domains"),
    ("GET", "/domains/ee85a74c-405e-4adc-bb47-ffa8ca0c9f31"),
    ("GET", "/projects"),
    ("POST", "/projects?name=x"),
    ("POST", "/projects/import?token=x"),
    ("GET", f"/projects/{P}"),
    ("PATCH", f"/projects/{P}"),
    ("DELETE", f"/projects/{P}"),
    ("GET", f"/projects/{P}/artifacts?path=x"),
    ("GET", f"/projects/{P}/export"),
    ("GET", f"/projects/{P}/images"),
    ("POST", f"/projects/{P}/images"),
    ("DELETE", f"/projects/{P}/images?imageIds={uuid.uuid4()}"),
    ("GET", f"/projects/{P}/images/count"),
    ("GET", f"/projects/{P}/images/id?imageIds={uuid.uuid4()}"),
    ("POST", f"/projects/{P}/images/files"),
    ("POST", f"/projects/{P}/images/urls"),
    ("POST", f"/projects/{P}/images/predictions"),
    ("POST", f"/projects/{P}/images/metadata?imageIds={uuid.uuid4()}"),
    ("POST", f"/projects/{P}/images/regions"),
    ("DELETE", f"/projects/{P}/images/regions?regionIds={uuid.uuid4()}"),
    ("POST", f"/projects/{P}/images/{uuid.uuid4()}/regionproposals"),
    ("POST", f"/projects/{P}/images/suggested"),
    ("POST", f"/projects/{P}/images/suggested/count"),
    ("GET", f"/projects/{P}/images/tagged"),
    ("GET", f"/projects/{P}/images/tagged/count"),
    ("GET", f"/projects/{P}/images/untagged"),
    ("GET", f"/projects/{P}/images/untagged/count"),
    ("POST", f"/projects/{P}/images/tags"),
    ("DELETE", f"/projects/{P}/images/tags?imageIds={uuid.uuid4()}&tagIds={uuid.uuid4()}"),
    ("GET", f"/projects/{P}/iterations"),
    ("GET", f"/projects/{P}/iterations/{IT}"),
    ("PATCH", f"/projects/{P}/iterations/{IT}"),
    ("DELETE", f"/projects/{P}/iterations/{IT}"),
    ("GET", f"/projects/{P}/iterations/{IT}/export"),
    ("POST", f"/projects/{P}/iterations/{IT}/export?platform=ONNX"),
    ("GET", f"/projects/{P}/iterations/{IT}/performance"),
    ("GET", f"/projects/{P}/iterations/{IT}/performance/images"),
    ("GET", f"/projects/{P}/iterations/{IT}/performance/images/count"),
    ("POST", f"/projects/{P}/iterations/{IT}/publish?publishName=a&predictionId=b"),
    ("DELETE", f"/projects/{P}/iterations/{IT}/publish"),
    ("DELETE", f"/projects/{P}/predictions?ids={uuid.uuid4()}"),
    ("POST", f"/projects/{P}/predictions/query"),
    ("POST", f"/projects/{P}/quicktest/image"),
    ("POST", f"/projects/{P}/quicktest/url"),
    ("GET", f"/projects/{P}/tags"),
    ("POST", f"/projects/{P}/tags?name=x"),
    ("GET", f"/projects/{P}/tags/{{tag}}"),
    ("PATCH", f"/projects/{P}/tags/{{tag}}"),
    ("DELETE", f"/projects/{P}/tags/{{tag}}"),
    ("POST", f"/projects/{P}/tagsandregions/suggestions?imageIds={uuid.uuid4()}"),
    ("POST", f"/projects/{P}/train"),
]
PREDICTION_ROUTES = [
    ("POST", f"/{P}/{task}/iterations/live/{kind}{suffix}")
    for task in ("classify", "detect")
    for kind in ("image", "url")
    for suffix in ("", "/nostore")
]
PROJECT_SCOPED = [r for r in TRAINING_ROUTES if P in r[1] and "{tag}" not in r[1]] + [
    r for r in TRAINING_ROUTES if "{tag}" in r[1]
]


def _fill(path, project, tag=None, iteration=None):  # type: ignore[no-untyped-def]
    return path.format(
        project=project.id, tag=tag.id if tag else uuid.uuid4(), iteration=iteration.id if iteration else uuid.uuid4()
    )


def _assert_error(response, status, code=None):  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"code", "message"} and body["message"]
    if code:
        assert body["code"] == code


@pytest.mark.parametrize(("method", "path"), TRAINING_ROUTES)
def test_training_route_without_a_key_is_401(client, project, method, path):  # type: ignore[no-untyped-def]
    url = "/customvision/v3.4-preview/training" + _fill(path, project)
    _assert_error(getattr(client, method.lower())(url, content_type="application/json"), 401, "Unauthorized")


@pytest.mark.parametrize(("method", "path"), TRAINING_ROUTES)
def test_training_route_with_a_wrong_key_is_401(bad_api, project, method, path):  # type: ignore[no-untyped-def]
    _assert_error(bad_api.call(method, _fill(path, project)), 401, "Unauthorized")


@pytest.mark.parametrize(("method", "path"), PREDICTION_ROUTES)
def test_prediction_route_with_a_wrong_or_missing_key_is_401(bad_api, api, client, project, method, path):  # type: ignore[no-untyped-def]
    _assert_error(bad_api.call(method, _fill(path, project), prediction=True), 401, "Unauthorized")
    # The training key is not a prediction key.
    response = client.post(
        "/customvision/v3.1/prediction" + _fill(path, project),
        HTTP_TRAINING_KEY=api.training_key,
        content_type="application/json",
    )
    _assert_error(response, 401, "Unauthorized")


@pytest.mark.parametrize(("method", "path"), PROJECT_SCOPED)
def test_training_route_on_another_users_project_is_404(stranger_api, project, method, path):  # type: ignore[no-untyped-def]
    from tests.factories import make_tag

    tag = make_tag(project)
    response = stranger_api.call(method, _fill(path, project, tag=tag))
    _assert_error(response, 404, "NotFoundProject")


@pytest.mark.parametrize(("method", "path"), PREDICTION_ROUTES)
def test_prediction_route_on_another_users_project_is_404(stranger_api, project, method, path):  # type: ignore[no-untyped-def]
    _assert_error(stranger_api.call(method, _fill(path, project), prediction=True), 404, "NotFoundProject")


@pytest.mark.parametrize(
    "prefix",
    [
        "/customvision/v3.0/training",
        "/customvision/v3.1/training",
        "/customvision/v3.2/training",
        "/customvision/v3.3/training",
        "/customvision/v3.4-preview/training",
        "/customvision/v3.3/Training",
        "/customvision/v3.4-preview/TRAINING",
        "/customvision/v3.4-preview//training",
        "/customvision//v3.3/training/",
    ],
)
def test_every_training_version_and_spelling_reaches_the_same_handler(client, api, prefix):  # type: ignore[no-untyped-def]
    response = client.get(prefix.rstrip("/") + "//domains", HTTP_TRAINING_KEY=api.training_key)
    assert response.status_code == 200, (prefix, response.content[:200])
    assert any(d["name"] == "General" and d["type"] == "ObjectDetection" for d in response.json())


@pytest.mark.parametrize("header", ["Training-Key", "Training-key", "training-key", "TRAINING-KEY"])
def test_key_header_is_case_insensitive(client, api, header):  # type: ignore[no-untyped-def]
    # The WSGI environ upper-cases header names; what reaches Django is the same whatever the client wrote.
    response = client.get("/customvision/v3.3/training/projects", headers={header: api.training_key})
    assert response.status_code == 200


@pytest.mark.parametrize("prefix", ["/customvision/v3.0/prediction", "/customvision/v3.1/Prediction"])
def test_prediction_versions_route_to_the_prediction_api(client, api, project, prefix):  # type: ignore[no-untyped-def]
    response = client.post(
        f"{prefix}/{project.id}/classify/iterations/nope/image",
        data=b"x",
        content_type="application/octet-stream",
        HTTP_PREDICTION_KEY=api.prediction_key,
    )
    _assert_error(response, 404, "NotFound")


def test_unknown_paths_and_versions_answer_azure_json_404(api, client):  # type: ignore[no-untyped-def]
    _assert_error(api.get("/nothing/here"), 404, "NotFound")
    _assert_error(client.get("/customvision/v9.9/training/domains"), 404, "NotFound")
    _assert_error(client.get("/customvision/v3.2/prediction/x/classify/iterations/y/image"), 404, "NotFound")


def test_a_method_the_route_does_not_have_is_a_json_405(api):  # type: ignore[no-untyped-def]
    response = api.call("PUT", "/projects")
    assert response.status_code == 405
    assert response.json()["code"] == "BadRequest"


def test_malformed_project_id_is_404_not_500(api):  # type: ignore[no-untyped-def]
    _assert_error(api.get("/projects/not-a-guid"), 404, "NotFoundProject")
    _assert_error(api.get("/projects/not-a-guid/tags"), 404, "NotFoundProject")


def test_openapi_document_lists_only_routes_we_serve(client):  # type: ignore[no-untyped-def]
    from django.urls import resolve

    from portal.azure.urls import not_found

    doc = client.get("/customvision/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    operations = 0
    for path, methods in doc["paths"].items():
        concrete = path.replace("{publishedName}", "live")
        for name in ("projectId", "domainId", "imageId", "iterationId", "tagId"):
            concrete = concrete.replace(f"{{{name}}}", str(uuid.uuid4()))
        match = resolve(concrete)
        assert match.func is not not_found, path
        operations += len(methods)
    assert operations == len(TRAINING_ROUTES) + len(PREDICTION_ROUTES)
