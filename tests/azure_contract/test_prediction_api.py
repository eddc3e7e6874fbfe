"""Prediction API and Quick Test against a REAL model: train in-process with the worker's service, then predict.

The classification quickstart's 10 + 10 photos are uploaded through the API, the iteration is queued through
the API and run by ``training.services.iteration_run`` (what the Celery task calls), published through the
API, and predicted through the Prediction API in every form (bytes, multipart, url, nostore) and Quick Test.
"""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import DATASETS

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

QUICKSTART = DATASETS / "azure-quickstart"
MANIFEST = json.loads((QUICKSTART / "manifest.json").read_text())["classification"]
TEST = MANIFEST["test"][0]


@pytest.fixture
def published(api, owner):  # type: ignore[no-untyped-def]
    from training.services import iteration_run

    project = api.post("/projects?name=Trees").json()
    tags = {n: api.post(f"/projects/{project['id']}/tags?name={n}").json()["id"] for n in MANIFEST["tags"]}
    images = [
        {
            "name": i["file"],
            "contents": base64.b64encode((QUICKSTART / i["file"]).read_bytes()).decode(),
            "tagIds": [tags[i["tag"]]],
        }
        for i in MANIFEST["train"]
    ]
    assert api.post(f"/projects/{project['id']}/images/files", json_body={"images": images}).status_code == 200
    iteration = api.post(f"/projects/{project['id']}/train").json()
    assert iteration["status"] == "Training"
    iteration_run(iteration_id=iteration["id"])
    done = api.get(f"/projects/{project['id']}/iterations/{iteration['id']}").json()
    assert done["status"] == "Completed", done["trainingErrorDetails"]
    response = api.post(
        f"/projects/{project['id']}/iterations/{iteration['id']}/publish?publishName=classifyModel&predictionId=x"
    )
    assert response.content == b"true"
    return project, done, tags


def _check(body, project, iteration, tags):  # type: ignore[no-untyped-def]
    assert set(body) == {"id", "project", "iteration", "created", "predictions"}
    assert (body["project"], body["iteration"]) == (project["id"], iteration["id"])
    preds = body["predictions"]
    assert {p["tagName"] for p in preds} == set(MANIFEST["tags"])
    assert all(
        p["tagId"] == tags[p["tagName"]] and 0 <= p["probability"] <= 1 and p["boundingBox"] is None for p in preds
    )
    assert [p["probability"] for p in preds] == sorted((p["probability"] for p in preds), reverse=True)
    assert preds[0]["tagName"] == TEST["expected_top_tag"]


def test_classify_every_way(api, published, settings):  # type: ignore[no-untyped-def]
    project, iteration, tags = published
    data = (QUICKSTART / TEST["file"]).read_bytes()
    base = f"/{project['id']}/classify/iterations/classifyModel"
    raw = api.post(
        f"{base}/image?application=test", data=data, content_type="application/octet-stream", prediction=True
    )
    assert raw.status_code == 200, raw.content
    _check(raw.json(), project, iteration, tags)
    boundary = "xYz"
    multipart = (
        (f'--{boundary}\r\nContent-Disposition: form-data; name="imageData"\r\n\r\n').encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    nostore = api.post(
        f"{base}/image/nostore",
        data=multipart,
        content_type=f"multipart/form-data; boundary={boundary}",
        prediction=True,
    )
    _check(nostore.json(), project, iteration, tags)
    with CaptureQueriesContext(connection) as queries:  # the request path: the key, then the published iteration
        again = api.post(f"{base}/image/nostore", data=data, content_type="application/octet-stream", prediction=True)
    _check(again.json(), project, iteration, tags)
    sql = [q["sql"] for q in queries.captured_queries]
    assert len(sql) == 2 and "workspaces_workspacekey" in sql[0] and "training_iteration" in sql[1], sql
    assert not any("ORDER BY" in q for q in sql), sql  # unique lookups: compiling an ordering cost 0.3 ms a request

    # By URL, from a local server (private addresses allowed for this test only).
    settings.TAGSIGHT_ALLOW_PRIVATE_URLS = True

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # type: ignore[no-untyped-def]  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):  # type: ignore[no-untyped-def]
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = {"url": f"http://127.0.0.1:{server.server_address[1]}/test.jpg"}
        for suffix in ("url", "url/nostore"):
            response = api.post(f"{base}/{suffix}", json_body=url, prediction=True)
            assert response.status_code == 200, response.content
            _check(response.json(), project, iteration, tags)
        quick = api.post(f"/projects/{project['id']}/quicktest/url", json_body=url)
        _check(quick.json(), project, iteration, tags)
    finally:
        server.shutdown()

    quick = api.post(
        f"/projects/{project['id']}/quicktest/image?iterationId={iteration['id']}&store=false",
        data=data,
        content_type="application/octet-stream",
    )
    _check(quick.json(), project, iteration, tags)


def test_prediction_errors_with_a_real_model(api, published, settings):  # type: ignore[no-untyped-def]
    project, iteration, _ = published
    base = f"/{project['id']}/classify/iterations/classifyModel"
    junk = api.post(f"{base}/image", data=b"not an image", content_type="application/octet-stream", prediction=True)
    assert (junk.status_code, junk.json()["code"]) == (400, "BadRequestImageFormat")
    big = api.post(
        f"{base}/image", data=b"\xff" * (4 * 1024 * 1024 + 1), content_type="application/octet-stream", prediction=True
    )
    assert (big.status_code, big.json()["code"]) == (400, "BadRequestImageSizeBytes")
    private = api.post(f"{base}/url", json_body={"url": "http://169.254.169.254/latest"}, prediction=True)
    assert (private.status_code, private.json()["code"]) == (400, "BadRequestImageUrl")
    assert api.post(f"{base}/url", json_body={}, prediction=True).status_code == 400
    # Unpublished: the name is gone.
    api.delete(f"/projects/{project['id']}/iterations/{iteration['id']}/publish")
    gone = api.post(f"{base}/image", data=b"x", content_type="application/octet-stream", prediction=True)
    assert (gone.status_code, gone.json()["code"]) == (404, "NotFound")


def test_performance_of_a_real_iteration(api, published):  # type: ignore[no-untyped-def]
    project, iteration, tags = published
    perf = api.get(f"/projects/{project['id']}/iterations/{iteration['id']}/performance?threshold=0.5").json()
    assert {t["name"] for t in perf["perTagPerformance"]} == set(MANIFEST["tags"])
    assert {t["id"] for t in perf["perTagPerformance"]} == set(tags.values())
    assert 0 <= perf["precision"] <= 1 and 0 <= perf["recall"] <= 1
    count = api.get(f"/projects/{project['id']}/iterations/{iteration['id']}/performance/images/count").json()
    images = api.get(f"/projects/{project['id']}/iterations/{iteration['id']}/performance/images").json()
    assert len(images) == count


def test_stored_predictions_query_add_to_training_and_delete(api, published, client):  # type: ignore[no-untyped-def]
    project, iteration, tags = published
    data = (QUICKSTART / TEST["file"]).read_bytes()
    base = f"/{project['id']}/classify/iterations/classifyModel"
    stored = api.post(
        f"{base}/image?application=shop", data=data, content_type="application/octet-stream", prediction=True
    ).json()
    api.post(f"{base}/image/nostore", data=data, content_type="application/octet-stream", prediction=True)
    query = api.post(f"/projects/{project['id']}/predictions/query", json_body={"maxCount": 10}).json()
    assert [r["id"] for r in query["results"]] == [stored["id"]]  # nostore left nothing behind
    (result,) = query["results"]
    assert result["iteration"] == iteration["id"] and result["predictions"][0]["tagName"] == TEST["expected_top_tag"]
    image = client.get(result["originalImageUri"].replace("http://testserver", ""))
    assert image.status_code == 200 and b"".join(image.streaming_content) == data
    by_app = api.post(f"/projects/{project['id']}/predictions/query", json_body={"application": "other"}).json()
    assert by_app["results"] == []
    top = tags[TEST["expected_top_tag"]]
    by_tag = api.post(
        f"/projects/{project['id']}/predictions/query",
        json_body={"tags": [{"id": top, "minThreshold": 0.0, "maxThreshold": 1.0}]},
    ).json()
    assert len(by_tag["results"]) == 1
    too_many = api.post(f"/projects/{project['id']}/predictions/query", json_body={"tags": [{"id": top}] * 3})
    assert too_many.json()["code"] == "BadRequestPredictionTagsExceededCount"

    # Add it to the training set (the Predictions tab's action), through the API.
    added = api.post(
        f"/projects/{project['id']}/images/predictions", json_body={"images": [{"id": stored["id"], "tagIds": [top]}]}
    )
    assert added.status_code in (200, 207), added.content
    assert added.json()["images"][0]["status"] in ("OK", "OKDuplicate")
    assert api.post(f"/projects/{project['id']}/predictions/query", json_body={}).json()["results"] == []

    again = api.post(f"{base}/image", data=data, content_type="application/octet-stream", prediction=True).json()
    assert api.delete(f"/projects/{project['id']}/predictions?ids={again['id']}").status_code == 204
    assert api.post(f"/projects/{project['id']}/predictions/query", json_body={}).json()["results"] == []


def test_onnx_export_through_the_api(api, published, client, settings):  # type: ignore[no-untyped-def]
    project, iteration, _ = published
    base = f"/projects/{project['id']}/iterations/{iteration['id']}/export"
    assert api.post(f"{base}?platform=CoreML").json()["code"] == "BadRequestProjectUnsupportedExportPlatform"
    first = api.post(f"{base}?platform=ONNX")
    assert first.status_code == 200, first.content
    assert first.json()["platform"] == "ONNX" and first.json()["status"] in ("Exporting", "Done")
    from predictions.exports import export_build
    from predictions.models import Export

    export_build(export_id=Export.objects.get().id)  # what the export task runs
    (done,) = api.get(base).json()
    assert done["status"] == "Done" and done["downloadUri"]
    download = client.get(done["downloadUri"].replace("http://testserver", ""))
    assert download.status_code == 200 and b"".join(download.streaming_content)[:2] == b"PK"


def test_onnx_flavors_through_the_api(api, published, client):  # type: ignore[no-untyped-def]
    """flavor=ONNX10 / ONNX12 (what existing export scripts send) are exports of their own, at that opset."""
    import io
    import zipfile

    import onnx

    from predictions.exports import export_build
    from predictions.models import Export

    project, iteration, _ = published
    base = f"/projects/{project['id']}/iterations/{iteration['id']}/export"
    for flavor in ("ONNX10", "onnx12"):
        response = api.post(f"{base}?platform=ONNX&flavor={flavor}")
        assert response.status_code == 200, response.content
        assert response.json()["flavor"] == flavor.upper() and response.json()["platform"] == "ONNX"
    for platform, flavor in [("ONNX", "ARM"), ("ONNX", "TensorFlowLite"), ("CoreML", "ONNX10")]:
        refused = api.post(f"{base}?platform={platform}&flavor={flavor}")
        assert refused.status_code == 400
        assert refused.json()["code"] == "BadRequestProjectUnsupportedExportPlatform", refused.json()
    assert api.post(f"{base}?platform=ONNX&flavor=ONNX10").json()["status"] == "Exporting"  # the same export
    assert Export.objects.count() == 2
    export_build(export_id=Export.objects.get(flavor="ONNX10").id)
    listed = {e["flavor"]: e for e in api.get(base).json()}
    assert set(listed) == {"ONNX10", "ONNX12"} and listed["ONNX10"]["status"] == "Done"
    download = client.get(listed["ONNX10"]["downloadUri"].replace("http://testserver", ""))
    archive = zipfile.ZipFile(io.BytesIO(b"".join(download.streaming_content)))
    assert [o.version for o in onnx.load_from_string(archive.read("model.onnx")).opset_import] == [10]


def test_suggest_tags_and_regions_uses_the_model(api, published):  # type: ignore[no-untyped-def]
    project, iteration, _ = published
    data = (QUICKSTART / TEST["file"]).read_bytes()
    image = api.post(f"/projects/{project['id']}/images", data=data, content_type="application/octet-stream").json()
    image_id = image["images"][0]["image"]["id"]
    base = f"/projects/{project['id']}/tagsandregions/suggestions"
    (suggestion,) = api.post(f"{base}?iterationId={iteration['id']}&imageIds={image_id}").json()
    assert suggestion["id"] == image_id and suggestion["iteration"] == iteration["id"]
    assert suggestion["predictions"][0]["tagName"] == TEST["expected_top_tag"]
    assert 0 <= suggestion["predictionUncertainty"] <= 1
    missing = api.post(f"{base}?iterationId={iteration['id']}&imageIds={project['id']}")
    assert (missing.status_code, missing.json()["code"]) == (400, "BadRequestInvalidIds")
    assert api.post(f"{base}?imageIds={image_id}").json()["code"] == "NotFoundIteration"


def test_suggested_images_and_counts_for_untagged_images(api, published):  # type: ignore[no-untyped-def]
    project, iteration, tags = published
    data = (QUICKSTART / TEST["file"]).read_bytes()
    api.post(f"/projects/{project['id']}/images", data=data, content_type="application/octet-stream")
    top = tags[TEST["expected_top_tag"]]
    other = next(t for n, t in tags.items() if t != top)
    base = f"/projects/{project['id']}/images/suggested"
    counts = api.post(f"{base}/count?iterationId={iteration['id']}", json_body={"threshold": 0.5}).json()
    assert counts == {top: 1, other: 0}
    query = api.post(f"{base}?iterationId={iteration['id']}", json_body={"tagIds": [top], "threshold": 0.5}).json()
    (result,) = query["results"]
    assert result["predictions"][0]["tagId"] == top and result["originalImageUri"] and result["width"] > 0
    assert query["token"]["continuation"] is None
    none = api.post(f"{base}?iterationId={iteration['id']}", json_body={"tagIds": [other], "threshold": 0.99}).json()
    assert none["results"] == []
    bad = api.post(f"{base}/count?iterationId={iteration['id']}", json_body={"threshold": 7})
    assert (bad.status_code, bad.json()["code"]) == (400, "BadRequest")
