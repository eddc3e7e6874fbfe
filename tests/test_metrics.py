"""/metrics: behind a bearer token, Prometheus text that prometheus_client's own parser reads, with the series an
operator watches (requests by route, predictions per project, the training queue, worker heartbeats, exports)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

TOKEN = "metrics-token-for-tests"


def scrape(client: Client) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """{sample name: {sorted labels: value}} of one authorised scrape."""
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200, response.content[:500]
    assert response["Content-Type"].startswith("text/plain")
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return out


def value(samples: dict, name: str, **labels: str) -> float | None:  # type: ignore[type-arg]
    return samples.get(name, {}).get(tuple(sorted(labels.items())))


@pytest.mark.django_db
def test_metrics_are_off_without_a_token_and_need_the_bearer(settings):  # type: ignore[no-untyped-def]
    client = Client()
    settings.TAGSIGHT_METRICS_TOKEN = ""
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 404
    settings.TAGSIGHT_METRICS_TOKEN = TOKEN
    assert client.get("/metrics").status_code == 401
    wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer nope")
    assert wrong.status_code == 401 and wrong["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Basic {TOKEN}").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200


@pytest.mark.integration
@pytest.mark.django_db
def test_scrape_after_requests_shows_routes_queue_and_heartbeats(settings, owner):  # type: ignore[no-untyped-def]
    from tests.training.builders import tagged_project
    from training.models import WorkerHeartbeat
    from training.services import iteration_queue
    from workspaces.services import personal_keys

    settings.TAGSIGHT_METRICS_TOKEN = TOKEN
    client = Client()
    keys = personal_keys(user=owner)
    before = scrape(client)
    for _ in range(3):
        listed = client.get("/customvision/v3.4-preview/training/projects", HTTP_TRAINING_KEY=keys.training_key)
        assert listed.status_code == 200
    missing = client.get(f"/customvision/v3.4-preview/training/projects/{owner.pk}", HTTP_TRAINING_KEY="bad")
    assert missing.status_code == 401
    assert client.get("/healthz").status_code == 200
    assert client.get("/no/such/page").status_code == 404
    project = tagged_project(owner)
    iteration_queue(project=project, requested_by=owner)  # queued: no worker takes it in this test
    WorkerHeartbeat.objects.create(hostname="w1@box", pid=1, queues="training", last_seen=timezone.now()
                                   - timedelta(seconds=42))

    after = scrape(client)
    count = "tagsight_http_request_duration_seconds_count"

    def grew(**labels: str) -> float:
        return (value(after, count, **labels) or 0) - (value(before, count, **labels) or 0)

    # Routes are names (Azure operation ids, URL names), never paths with ids in them.
    assert grew(route="training:GetProjects", method="GET", status="200") == 3
    assert grew(route="training:GetProject", method="GET", status="401") == 1
    assert grew(route="healthz", method="GET", status="200") == 1
    assert grew(route="unmatched", method="GET", status="404") == 1
    assert not [labels for labels in after[count] if any("/" in v for _, v in labels)]
    buckets = after["tagsight_http_request_duration_seconds_bucket"]
    inf = dict(buckets)[tuple(sorted({"route": "healthz", "method": "GET", "status": "200", "le": "+Inf"}.items()))]
    assert inf == value(after, count, route="healthz", method="GET", status="200")
    assert value(after, "tagsight_http_request_duration_seconds_sum", route="healthz", method="GET",
                 status="200") > 0
    # From the database at scrape time.
    assert value(after, "tagsight_training_queue_depth", state="queued") == 1
    assert value(after, "tagsight_training_queue_depth", state="running") == 0
    assert 42 <= value(after, "tagsight_worker_heartbeat_age_seconds", worker="w1@box") < 120
    assert value(after, "tagsight_exports_in_progress") == 0
