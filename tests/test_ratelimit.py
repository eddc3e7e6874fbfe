"""The prediction rate limit per prediction key: a call a little over the limit is held for a later second, one
far over it gets 429 with Retry-After and Azure's error body; counted atomically in the shared cache (the
database here, Redis on the production profile); and what Microsoft's SDK makes of both."""

from __future__ import annotations

import os
import threading
import time
import uuid

import pytest
from django.core.cache import caches

from portal.ratelimit import HOLDERS_PER_PROCESS, Slot, rate_limit_reserve

PREDICTION = "/customvision/v3.1/prediction"


def _start_of_a_second() -> None:
    """Wait for a fresh second, so that a short burst falls in one window of the counter."""
    time.sleep(1 - time.time() % 1 + 0.01)


@pytest.fixture
def keys(owner):  # type: ignore[no-untyped-def]
    from workspaces.services import personal_keys

    return personal_keys(user=owner)


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_the_counter_is_atomic_across_threads_on_the_profiles_shared_cache():
    backend = type(caches["shared"])
    redis = os.environ.get("CELERY_BROKER_URL", "").startswith("redis")
    expected = "django.core.cache.backends.redis.RedisCache" if redis else "portal.cache.DatabaseCache"
    assert f"{backend.__module__}.{backend.__name__}" == expected
    key, limit, fixed_now = f"test:{uuid.uuid4()}", 7, int(time.time()) + 0.5
    results: list[Slot] = []
    lock = threading.Lock()

    def client() -> None:
        from django.db import connection

        try:
            for _ in range(8):
                slot = rate_limit_reserve(key=key, limit=limit, hold=1, now=fixed_now)
                with lock:
                    results.append(slot)
        finally:
            connection.close()

    threads = [threading.Thread(target=client) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # 64 calls in one window: exactly the limit go at once and exactly the limit are held for the next second,
    # whichever thread made them; the rest are refused until the first window nobody reserved.
    assert len(results) == 64
    assert results.count(Slot()) == limit
    assert results.count(Slot(delay=0.5)) == limit
    assert results.count(Slot(retry_after=2)) == 64 - 2 * limit
    # Without a hold the call is refused at once (as on Azure); two seconds on, a window starts afresh.
    assert rate_limit_reserve(key=key, limit=limit, now=fixed_now) == Slot(retry_after=1)
    assert rate_limit_reserve(key=key, limit=limit, hold=1, now=fixed_now + 2) == Slot()


@pytest.mark.django_db
def test_no_limit_by_default(settings, keys):  # type: ignore[no-untyped-def]
    assert settings.TAGSIGHT_PREDICTION_RATE_LIMIT == 0
    from django.test import Client

    client = Client()
    url = f"{PREDICTION}/{uuid.uuid4()}/classify/iterations/x/image"
    codes = {client.post(url, data=b"x", content_type="application/octet-stream",
                         HTTP_PREDICTION_KEY=keys.prediction_key).status_code for _ in range(15)}
    assert codes == {404}


@pytest.mark.django_db
def test_a_burst_over_the_limit_gets_429_with_retry_after_and_azures_body(settings, keys, owner):  # type: ignore[no-untyped-def]
    from django.test import Client

    from workspaces.services import keys_of, personal_workspace_ensure

    settings.TAGSIGHT_PREDICTION_RATE_LIMIT = 3
    settings.TAGSIGHT_PREDICTION_RATE_HOLD = 0  # Azure's behaviour: no call is held
    client = Client()
    url = f"{PREDICTION}/{uuid.uuid4()}/classify/iterations/x/image"

    def burst(key: str, n: int) -> list:  # type: ignore[type-arg]
        return [client.post(url, data=b"x", content_type="application/octet-stream", HTTP_PREDICTION_KEY=key)
                for _ in range(n)]

    for _ in range(3):  # a burst that straddles two seconds proves nothing: try again in the next one
        _start_of_a_second()
        started = time.time()
        responses = burst(keys.prediction_key, 6)
        if int(time.time()) == int(started):
            break
    else:
        pytest.fail("could not fit 6 requests into one second")
    assert [r.status_code for r in responses] == [404, 404, 404, 429, 429, 429]
    refused = responses[-1]
    assert refused["Retry-After"] == "1"
    assert refused["Content-Type"].startswith("application/json")
    body = refused.json()
    assert set(body) == {"code", "message"} and body["code"] == "429"
    assert "ClassifyImage" in body["message"] and "retry after 1 second" in body["message"]
    # Per key: the workspace's Key 2 has its own budget, and a wrong key is still 401, never 429.
    key2 = keys_of(workspace=personal_workspace_ensure(user=owner))["prediction2"]
    assert burst(key2, 1)[0].status_code == 404
    assert burst("not-a-key", 1)[0].status_code == 401
    # The next second the key may predict again.
    _start_of_a_second()
    assert burst(keys.prediction_key, 1)[0].status_code == 404
    # Training keys are not limited by it.
    train = client.get("/customvision/v3.4-preview/training/projects", HTTP_TRAINING_KEY=keys.training_key)
    assert train.status_code == 200


@pytest.mark.django_db
def test_a_call_a_little_over_the_limit_is_held_for_the_next_second_not_refused(settings, keys):  # type: ignore[no-untyped-def]
    from django.test import Client

    settings.TAGSIGHT_PREDICTION_RATE_LIMIT = 3
    assert settings.TAGSIGHT_PREDICTION_RATE_HOLD == 1  # the default
    client = Client()
    url = f"{PREDICTION}/{uuid.uuid4()}/classify/iterations/x/image"
    _start_of_a_second()
    started = time.time()
    finished = []
    for _ in range(6):
        response = client.post(url, data=b"x", content_type="application/octet-stream",
                               HTTP_PREDICTION_KEY=keys.prediction_key)
        finished.append((response.status_code, time.time()))
    # All six reach the API (404: no such project); three went at once, three waited for the next second.
    assert [code for code, _ in finished] == [404] * 6
    assert all(at >= int(started) + 1 for _, at in finished[3:])  # the three over the limit waited for their place


@pytest.mark.django_db(transaction=True)
def test_a_flood_gets_429_while_each_process_holds_only_a_few_calls(settings, live_server, keys):  # type: ignore[no-untyped-def]
    """Held calls occupy web threads: a process holds at most HOLDERS_PER_PROCESS, the rest are refused at once."""
    import requests

    settings.TAGSIGHT_PREDICTION_RATE_LIMIT = 1
    url = f"{live_server.url}{PREDICTION}/{uuid.uuid4()}/classify/iterations/x/image"
    results: list[tuple[int, float]] = []
    lock = threading.Lock()
    gate = threading.Barrier(8)

    def client() -> None:
        gate.wait()
        started = time.time()
        code = requests.post(url, data=b"x", headers={"Prediction-Key": keys.prediction_key}, timeout=30).status_code
        with lock:
            results.append((code, time.time() - started))

    _start_of_a_second()
    threads = [threading.Thread(target=client) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = [code for code, _ in results]
    # One call goes in this second, one is held for the next (its place), every other one is refused at once
    # (should the burst straddle a second, one more may go or be held: never more than the holders allow).
    assert 2 <= codes.count(404) <= 2 + HOLDERS_PER_PROCESS - 1 and codes.count(429) >= 8 - HOLDERS_PER_PROCESS - 1
    assert max(took for code, took in results if code == 429) < 0.9, results  # a held call waits ~1 s


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_microsofts_sdk_against_the_limit(settings, live_server, keys, owner, tmp_path):  # type: ignore[no-untyped-def]
    """msrest (the SDK's HTTP layer) asks urllib3 to retry 429 answers that carry Retry-After, but it names the
    methods to retry with ``method_whitelist``, which urllib3 2 no longer reads: with urllib3 2 a POST (every
    prediction call) is not retried, and the SDK raises CustomVisionErrorException on the first 429. So calls a
    little over the limit are held rather than refused (TAGSIGHT_PREDICTION_RATE_HOLD): an over-eager SDK loop is
    slowed to the limit and completes. With no hold (Azure's behaviour) the SDK fails on the first 429, unless
    the policy is given urllib3 2's ``allowed_methods``, which restores what msrest meant."""
    import urllib3
    from azure.cognitiveservices.vision.customvision.prediction import CustomVisionPredictionClient
    from azure.cognitiveservices.vision.customvision.prediction.models import CustomVisionErrorException
    from msrest.authentication import ApiKeyCredentials

    from tests.predictions.builders import DETECTION, tiny_fork_detector
    from training.services import iteration_publish

    project, iteration = tiny_fork_detector(owner, tmp_path)
    iteration_publish(iteration=iteration, publish_name="forks")
    image = next((DETECTION / "fork").glob("*.jpg")).read_bytes()
    settings.TAGSIGHT_PREDICTION_RATE_LIMIT = 2

    def client() -> CustomVisionPredictionClient:
        return CustomVisionPredictionClient(
            live_server.url, ApiKeyCredentials(in_headers={"Prediction-key": keys.prediction_key})
        )

    # Out of the box, with the default hold: 8 calls as fast as the SDK goes all complete, at 2 per second.
    assert urllib3.__version__.startswith("2.")
    predictor = client()
    _start_of_a_second()
    started = time.time()
    results = [predictor.detect_image_with_no_store(str(project.id), "forks", image) for _ in range(8)]
    assert len(results) == 8 and all(r.predictions for r in results)
    assert time.time() - started >= 3  # four one-second windows of two calls each

    # No hold, as on Azure: the calls over 2 per second are refused, and the SDK does not retry them.
    settings.TAGSIGHT_PREDICTION_RATE_HOLD = 0
    _start_of_a_second()
    predictor = client()
    done, refused = 0, []
    for _ in range(8):
        try:
            predictor.detect_image_with_no_store(str(project.id), "forks", image)
            done += 1
        except CustomVisionErrorException as exc:
            refused.append(exc)
    assert done >= 2 and refused and done + len(refused) == 8
    response = refused[0].response
    assert response.status_code == 429 and response.headers["Retry-After"] == "1"
    assert refused[0].error.code == "429" and "DetectImageWithNoStore" in refused[0].error.message

    # With the methods msrest meant to retry: urllib3 waits Retry-After and tries again; all 8 complete.
    predictor = client()
    predictor.config.retry_policy.policy.allowed_methods = frozenset({"GET", "PUT", "DELETE", "POST", "PATCH"})
    results = [predictor.detect_image_with_no_store(str(project.id), "forks", image) for _ in range(8)]
    assert len(results) == 8 and all(r.predictions for r in results)
