"""Schemathesis fuzzes every operation of our OpenAPI document in-process (WSGI): zero server errors allowed.

Path ids are pointed at a real project (with a tag, an image, a completed and published iteration) most
of the time, so the fuzzing reaches the handlers' validation, not only the 404 for a random GUID.
"""

from __future__ import annotations

import zlib

import pytest

schemathesis = pytest.importorskip("schemathesis")

from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.utils import timezone  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402

from portal.azure.openapi import build  # noqa: E402

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

APP = get_wsgi_application()
SCHEMA = schemathesis.openapi.from_dict(build())


@pytest.fixture(autouse=True)
def _keep_the_test_connection():  # type: ignore[no-untyped-def]
    """As Django's test Client does: a WSGI request must not close the test's database connection."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def world(owner, settings):  # type: ignore[no-untyped-def]  # noqa: F811
    from projects.services import image_upload, project_create, tag_create
    from tests.factories import make_image_bytes
    from training.models import Iteration
    from workspaces.services import personal_keys

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    project = project_create(created_by=owner, name="Fuzzed")
    tag = tag_create(project=project, name="Oak")
    image = image_upload(project=project, data=make_image_bytes(), tags=[tag]).image
    iteration = Iteration.objects.create(
        project=project,
        number=1,
        name="Iteration 1",
        status="Completed",
        domain_id=project.domain_id,
        started=timezone.now(),
        finished=timezone.now(),
        publish_name="live",
        snapshot={"tags": [{"id": str(tag.id), "name": "Oak", "type": "Regular"}], "images": []},
        metrics={
            "task": "classification",
            "tags": ["Oak"],
            "validation_predictions": [
                {"id": str(image.id), "tags": ["Oak"], "boxes": [], "predictions": [{"tag": "Oak", "probability": 0.8}]}
            ],
        },
    )
    keys = personal_keys(user=owner)
    ids = {"projectId": project.id, "tagId": tag.id, "imageId": image.id, "iterationId": iteration.id}
    return ids, {"Training-Key": keys.training_key, "Prediction-Key": keys.prediction_key}


@SCHEMA.parametrize()
# derandomize: CI must be reproducible; run with --hypothesis-seed=N (and without this) to explore further.
@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_server_errors(case, world):  # type: ignore[no-untyped-def]
    ids, headers = world
    for name, value in ids.items():
        # Mostly real ids (reaching the handlers), sometimes whatever was generated (the 404 paths).
        if case.path_parameters and name in case.path_parameters and zlib.crc32(repr(case.query).encode()) % 5:
            case.path_parameters[name] = str(value)
    if case.path_parameters and "publishedName" in case.path_parameters and zlib.crc32(repr(case.body).encode()) % 3:
        case.path_parameters["publishedName"] = "live"
    case.call_and_validate(app=APP, headers=headers, checks=[not_a_server_error])
