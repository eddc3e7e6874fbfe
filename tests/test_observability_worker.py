"""One request, followed through a REAL Celery worker: its id is on the web's log line and on the worker's, and
/metrics then shows the export the worker built (from the worker's metric files) and the prediction."""

from __future__ import annotations

import io
import json
import logging

import pytest
from django.test import Client

from tests.test_metrics import TOKEN, scrape, value
from tests.worker import celery_worker, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_a_requests_id_reaches_the_worker_and_metrics_see_both_sides(settings, owner, tmp_path):  # type: ignore[no-untyped-def]
    from portal.logs import JsonFormatter, RequestIdFilter
    from predictions.models import Export
    from tests.predictions.builders import DETECTION, tiny_fork_detector
    from training.services import iteration_publish
    from workspaces.services import personal_keys

    settings.TAGSIGHT_METRICS_TOKEN = TOKEN
    settings.TAGSIGHT_METRICS_DIR = tmp_path / "metrics"
    project, iteration = tiny_fork_detector(owner, tmp_path)
    iteration_publish(iteration=iteration, publish_name="forks")
    keys = personal_keys(user=owner)
    client = Client()

    # The web side logs as settings.LOGGING does with LOG_FORMAT=json: our filter and formatter on a handler.
    assert settings.LOGGING["handlers"]["console"]["filters"] == ["request_id"]
    web_log = io.StringIO()
    handler = logging.StreamHandler(web_log)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter())
    logging.getLogger().addHandler(handler)
    try:
        response = client.post(
            f"/customvision/v3.4-preview/training/projects/{project.id}/iterations/{iteration.id}/export?platform=ONNX",
            HTTP_TRAINING_KEY=keys.training_key, HTTP_X_REQUEST_ID="trace-export-1",
        )
        insane = client.get("/healthz", HTTP_X_REQUEST_ID="bad id with spaces")
    finally:
        logging.getLogger().removeHandler(handler)
    assert response.status_code == 200, response.content
    assert response["X-Request-ID"] == "trace-export-1"
    assert insane["X-Request-ID"] != "bad id with spaces" and len(insane["X-Request-ID"]) == 32
    web_lines = [json.loads(line) for line in web_log.getvalue().splitlines()]
    queued = [r for r in web_lines if r["logger"] == "predictions.exports" and "queued" in r["message"]]
    assert queued and queued[0]["request_id"] == "trace-export-1"
    assert {"timestamp", "level", "logger", "message", "request_id"} <= set(queued[0])

    image = next((DETECTION / "fork").glob("*.jpg")).read_bytes()
    predicted = client.post(f"/customvision/v3.1/prediction/{project.id}/detect/iterations/forks/image/nostore",
                            data=image, content_type="application/octet-stream",
                            HTTP_PREDICTION_KEY=keys.prediction_key)
    assert predicted.status_code == 200

    env = {"LOG_FORMAT": "json", "TAGSIGHT_METRICS_DIR": str(settings.TAGSIGHT_METRICS_DIR)}
    with celery_worker(data_dir=tmp_path, hostname="observed", env=env) as worker:
        export = wait_for(lambda: (e := Export.objects.get(iteration=iteration)).status != "Exporting" and e,
                          timeout=180, interval=0.3, describe=lambda: worker.log()[-3000:])
        assert export.status == "Done", (export.error, worker.log()[-3000:])

        def worker_lines() -> list[dict]:  # type: ignore[type-arg]
            out = []
            for line in worker.log().splitlines():
                try:
                    out.append(json.loads(line))
                except ValueError:
                    continue
            return out

        tagged = wait_for(lambda: [r for r in worker_lines() if r.get("request_id") == "trace-export-1"],
                          timeout=30, describe=lambda: worker.log()[-3000:])
        # The worker's line about this task carries the web request's id; its other lines carry none.
        assert any("export_iteration" in r["message"] for r in tagged), tagged
        assert all(r["request_id"] in ("", "trace-export-1") for r in worker_lines())

        # /metrics: the export build the worker counted (its metric files), the prediction the web counted.
        client = Client()
        builds = "tagsight_export_build_duration_seconds_count"
        samples = wait_for(lambda: (s := scrape(client)) and value(s, builds, platform="ONNX", status="Done") and s,
                           timeout=30, describe=lambda: worker.log()[-3000:])
        assert value(samples, builds, platform="ONNX", status="Done") == 1
        assert value(samples, "tagsight_prediction_duration_seconds_count", project=str(project.id),
                     operation="DetectImageWithNoStore") == 1
        assert value(samples, "tagsight_http_request_duration_seconds_count", route="training:ExportIteration",
                     method="POST", status="200") >= 1
        ages = {dict(k)["worker"]: v for k, v in samples["tagsight_worker_heartbeat_age_seconds"].items()}
        assert any(name.startswith("observed@") and 0 <= age < 60 for name, age in ages.items()), ages
        assert value(samples, "tagsight_exports_in_progress") == 0
