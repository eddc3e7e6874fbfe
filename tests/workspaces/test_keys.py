"""A workspace's keys on the API: both keys of a kind work, each kind does only its job, and rotation works with
Microsoft's SDK (azure-cognitiveservices-vision-customvision) against a live server, as an Azure user rotates:
move the apps to Key 2, regenerate Key 1 on the Keys page, and Key 2 keeps working while the old Key 1 is refused.
"""

from __future__ import annotations

import os
import re

import pytest
from azure.cognitiveservices.vision.customvision.prediction import CustomVisionPredictionClient
from azure.cognitiveservices.vision.customvision.prediction.models import (
    CustomVisionErrorException as PredictionError,
)
from azure.cognitiveservices.vision.customvision.training import CustomVisionTrainingClient
from azure.cognitiveservices.vision.customvision.training.models import CustomVisionErrorException
from django.test import Client
from msrest.authentication import ApiKeyCredentials

from tests.factories import make_image_bytes, make_project
from workspaces.services import keys_of, member_add, personal_keys, workspace_create

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

PROJECTS = "/customvision/v3.3/training/projects"


@pytest.fixture
def kitchen(owner):  # type: ignore[no-untyped-def]
    """A team workspace with one project; the owner's personal workspace has another."""
    workspace = workspace_create(name="Kitchen", owner=owner)
    make_project(owner, name="Team project", workspace=workspace)
    make_project(owner, name="Owner's own")
    return workspace


def names(response):  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.content
    return sorted(p["name"] for p in response.json())


@pytest.mark.django_db
def test_training_key_1_and_key_2_both_work_on_the_workspace_and_a_prediction_key_cannot_train(kitchen, owner):  # type: ignore[no-untyped-def]
    keys = keys_of(workspace=kitchen)
    api = Client()
    assert names(api.get(PROJECTS, HTTP_TRAINING_KEY=keys["training1"])) == ["Team project"]
    assert names(api.get(PROJECTS, HTTP_TRAINING_KEY=keys["training2"])) == ["Team project"]
    assert names(api.get(PROJECTS, HTTP_TRAINING_KEY=personal_keys(user=owner).training_key)) == ["Owner's own"]
    for key in (keys["prediction1"], keys["prediction2"]):
        response = api.get(PROJECTS, HTTP_TRAINING_KEY=key)
        assert response.status_code == 401 and response.json()["code"] == "Unauthorized"
        response = api.post(PROJECTS + "?name=sneaky", "{}", content_type="application/json", HTTP_TRAINING_KEY=key)
        assert response.status_code == 401
    assert names(api.get(PROJECTS, HTTP_TRAINING_KEY=keys["training1"])) == ["Team project"]  # nothing created

    # And the other way round: a training key is not a prediction key.
    project = kitchen.projects.get()
    detect = f"/customvision/v3.1/prediction/{project.id}/detect/iterations/live/image"
    response = api.post(detect, make_image_bytes(), content_type="application/octet-stream",
                        HTTP_PREDICTION_KEY=keys["training1"])
    assert response.status_code == 401


@pytest.mark.django_db
def test_a_members_role_does_not_change_what_a_key_may_do(kitchen, django_user_model):  # type: ignore[no-untyped-def]
    """Keys are the workspace's, not a person's: a Viewer in the workspace changes nothing for the key holder."""
    viewer = django_user_model.objects.create_user(username="viewer")
    member_add(workspace=kitchen, user=viewer, role="viewer")
    key = keys_of(workspace=kitchen)["training2"]
    response = Client().post(PROJECTS + "?name=By+key", "{}", content_type="application/json", HTTP_TRAINING_KEY=key)
    assert response.status_code == 200, response.content
    assert sorted(kitchen.projects.values_list("name", flat=True)) == ["By key", "Team project"]


def regenerate_on_the_keys_page(owner, workspace, kind: str, slot: int) -> None:  # type: ignore[no-untyped-def]
    """What the Owner does in the browser: open the Keys page, press Regenerate (the form's CSRF token and all)."""
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(owner)
    url = f"/workspaces/{workspace.id}/keys"
    page = browser.get(url).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    response = browser.post(url, {"kind": kind, "slot": str(slot), "csrfmiddlewaretoken": token})
    assert response.status_code == 302, response.content


def training_client(url: str, key: str) -> CustomVisionTrainingClient:
    client = CustomVisionTrainingClient(url + "/", ApiKeyCredentials(in_headers={"Training-key": key}))
    client.config.retry_policy.retries = 0
    return client


def prediction_client(url: str, key: str) -> CustomVisionPredictionClient:
    client = CustomVisionPredictionClient(url + "/", ApiKeyCredentials(in_headers={"Prediction-key": key}))
    client.config.retry_policy.retries = 0
    return client


@pytest.mark.django_db(transaction=True)
def test_training_key_rotation_with_the_sdk(live_server, owner, kitchen):  # type: ignore[no-untyped-def]
    old = keys_of(workspace=kitchen)
    on_key_1 = training_client(live_server.url, old["training1"])
    project = on_key_1.get_projects()[0]
    assert project.name == "Team project"
    on_key_1.create_tag(project.id, "fork")

    on_key_2 = training_client(live_server.url, old["training2"])  # the app moves to Key 2 ...
    regenerate_on_the_keys_page(owner, kitchen, "training", 1)  # ... and the Owner regenerates Key 1
    new = keys_of(workspace=kitchen)
    assert new["training1"] != old["training1"] and new["training2"] == old["training2"]

    assert [t.name for t in on_key_2.get_tags(project.id)] == ["fork"]
    on_key_2.create_tag(project.id, "knife")
    with pytest.raises(CustomVisionErrorException) as refused:
        on_key_1.get_tags(project.id)
    assert refused.value.response.status_code == 401
    assert refused.value.error.code == "Unauthorized"
    fresh = training_client(live_server.url, new["training1"])
    assert sorted(t.name for t in fresh.get_tags(project.id)) == ["fork", "knife"]


@pytest.mark.django_db(transaction=True)
def test_prediction_key_rotation_with_the_sdk(live_server, owner, kitchen, tmp_path):  # type: ignore[no-untyped-def]
    from projects.models import Project
    from tests.predictions.builders import DETECTION, tiny_fork_detector
    from training.services import iteration_publish

    project, iteration = tiny_fork_detector(owner, tmp_path, per_tag=2)
    Project.objects.filter(id=project.id).update(workspace=kitchen)  # the tiny detector, in the team workspace
    iteration_publish(iteration=iteration, publish_name="live")
    photo = (DETECTION / "fork" / "fork_1.jpg").read_bytes()
    old = keys_of(workspace=kitchen)

    on_key_1 = prediction_client(live_server.url, old["prediction1"])
    assert on_key_1.detect_image_with_no_store(project.id, "live", photo).predictions is not None
    on_key_2 = prediction_client(live_server.url, old["prediction2"])
    regenerate_on_the_keys_page(owner, kitchen, "prediction", 1)
    assert keys_of(workspace=kitchen)["prediction2"] == old["prediction2"]

    assert on_key_2.detect_image_with_no_store(project.id, "live", photo).predictions is not None
    with pytest.raises(PredictionError) as refused:
        on_key_1.detect_image_with_no_store(project.id, "live", photo)
    assert refused.value.response.status_code == 401
    # The training key of the same workspace is no prediction key either.
    with pytest.raises(PredictionError) as wrong_kind:
        prediction_client(live_server.url, old["training1"]).detect_image_with_no_store(project.id, "live", photo)
    assert wrong_kind.value.response.status_code == 401
