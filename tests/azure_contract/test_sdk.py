"""Microsoft's own Python SDK (azure-cognitiveservices-vision-customvision 3.1.1) against a live server."""

from __future__ import annotations

import os
import uuid

import pytest
from azure.cognitiveservices.vision.customvision.prediction import CustomVisionPredictionClient
from azure.cognitiveservices.vision.customvision.training import CustomVisionTrainingClient
from azure.cognitiveservices.vision.customvision.training.models import (
    CustomVisionErrorException,
    ImageFileCreateBatch,
    ImageFileCreateEntry,
    ImageRegionCreateEntry,
    ImageTagCreateEntry,
    Region,
)
from msrest.authentication import ApiKeyCredentials

from tests.factories import DATASETS, make_image_bytes

pytestmark = pytest.mark.django_db(transaction=True)

QUICKSTART = DATASETS / "azure-quickstart"


@pytest.fixture
def keys(owner):  # type: ignore[no-untyped-def]
    from workspaces.services import personal_keys

    return personal_keys(user=owner)


@pytest.fixture
def trainer(live_server, keys):  # type: ignore[no-untyped-def]
    # An endpoint ending in "/" as the Azure portal shows it; quickstarts send "Training-key".
    client = CustomVisionTrainingClient(
        live_server.url + "/", ApiKeyCredentials(in_headers={"Training-key": keys.training_key})
    )
    client.config.retry_policy.retries = 0
    return client


@pytest.fixture
def predictor(live_server, keys):  # type: ignore[no-untyped-def]
    client = CustomVisionPredictionClient(
        live_server.url, ApiKeyCredentials(in_headers={"Prediction-key": keys.prediction_key})
    )
    client.config.retry_policy.retries = 0
    return client


def test_sdk_classification_data_flow(trainer, owner):  # type: ignore[no-untyped-def]
    project = trainer.create_project(str(uuid.uuid4()))
    assert project.settings.domain_id == "ee85a74c-405e-4adc-bb47-ffa8ca0c9f31"
    hemlock = trainer.create_tag(project.id, "Hemlock")
    cherry = trainer.create_tag(project.id, "Japanese Cherry")
    entries = []
    for folder, tag in (("Hemlock", hemlock), ("Japanese_Cherry", cherry)):
        for path in sorted((QUICKSTART / "classification" / folder).glob("*.jpg"))[:3]:
            entries.append(ImageFileCreateEntry(name=path.name, contents=path.read_bytes(), tag_ids=[tag.id]))
    summary = trainer.create_images_from_files(project.id, ImageFileCreateBatch(images=entries))
    assert summary.is_batch_successful and len(summary.images) == 6
    assert all(r.status == "OK" and r.image.id for r in summary.images)

    assert {t.name: t.image_count for t in trainer.get_tags(project.id)} == {"Hemlock": 3, "Japanese Cherry": 3}
    assert trainer.get_tagged_image_count(project.id) == 6
    assert trainer.get_untagged_image_count(project.id) == 0
    assert trainer.get_image_count(project.id) == 6
    assert len(trainer.get_tagged_images(project.id, tag_ids=[hemlock.id])) == 3
    assert len(trainer.get_images(project.id, take=4)) == 4

    # Same bytes again: 207 is an accepted status for the SDK, each result says OKDuplicate.
    again = trainer.create_images_from_files(project.id, ImageFileCreateBatch(images=entries[:1]))
    assert not again.is_batch_successful and again.images[0].status == "OKDuplicate"

    # One-file-per-call upload (the JS quickstart's way), bytes and a file object.
    data = make_image_bytes(color=(1, 2, 3), fmt="JPEG")
    created = trainer.create_images_from_data(project.id, data, tag_ids=[cherry.id])
    assert created.images[0].status == "OK"
    with open(QUICKSTART / "classification" / "Test" / "test_image.jpg", "rb") as fh:
        assert trainer.create_images_from_data(project.id, fh).images[0].status == "OK"
    assert trainer.get_untagged_image_count(project.id) == 1

    # Read-modify-write through the SDK's client-side validation.
    got = trainer.get_project(project.id)
    got.description = "trees"
    assert trainer.update_project(project.id, got).description == "trees"
    tag = trainer.get_tag(project.id, hemlock.id)
    tag.description = "conifer"
    assert trainer.update_tag(project.id, hemlock.id, tag).description == "conifer"

    untagged = trainer.get_untagged_images(project.id)[0]
    trainer.create_image_tags(project.id, tags=[ImageTagCreateEntry(image_id=untagged.id, tag_id=hemlock.id)])
    trainer.delete_image_tags(project.id, [untagged.id], [hemlock.id])
    trainer.delete_images(project.id, image_ids=[untagged.id])
    assert trainer.get_image_count(project.id) == 7
    assert [p.id for p in trainer.get_projects()] == [project.id]
    assert owner.personal_workspace.projects.get().images.count() == 7  # the portal's data

    with pytest.raises(CustomVisionErrorException) as err:
        trainer.create_tag(project.id, "hemlock")
    assert err.value.error.code == "BadRequestTagNameNotUnique"
    trainer.delete_tag(project.id, cherry.id)
    trainer.delete_project(project.id)
    with pytest.raises(CustomVisionErrorException) as err:
        trainer.get_project(project.id)
    assert err.value.error.code == "NotFoundProject"


def test_sdk_detection_data_flow(trainer):  # type: ignore[no-untyped-def]
    import json

    manifest = json.loads((QUICKSTART / "manifest.json").read_text())["detection"]
    domains = trainer.get_domains()
    od = next(d for d in domains if d.type == "ObjectDetection" and d.name == "General")
    project = trainer.create_project("forks", domain_id=od.id)
    tags = {name: trainer.create_tag(project.id, name) for name in manifest["tags"]}
    entries = []
    for item in manifest["train"][:4]:
        regions = [
            Region(tag_id=tags[r["tag"]].id, left=r["left"], top=r["top"], width=r["width"], height=r["height"])
            for r in item["regions"]
        ]
        entries.append(
            ImageFileCreateEntry(name=item["name"], contents=(QUICKSTART / item["file"]).read_bytes(), regions=regions)
        )
    summary = trainer.create_images_from_files(project.id, ImageFileCreateBatch(images=entries))
    assert summary.is_batch_successful
    assert sum(len(r.image.regions) for r in summary.images) == 4
    image = summary.images[0].image
    created = trainer.create_image_regions(
        project.id,
        regions=[
            ImageRegionCreateEntry(
                image_id=image.id, tag_id=tags[manifest["tags"][0]].id, left=0.5, top=0.5, width=0.2, height=0.2
            )
        ],
    )
    assert len(created.created) == 1 and created.created[0].region_id
    trainer.delete_image_regions(project.id, [created.created[0].region_id])
    assert len(trainer.get_images_by_ids(project.id, image_ids=[image.id])[0].regions) == 1
    assert trainer.get_iterations(project.id) == []
    trainer.delete_project(project.id)


def test_sdk_errors_before_training(trainer, predictor):  # type: ignore[no-untyped-def]
    project = trainer.create_project("p")
    with pytest.raises(CustomVisionErrorException) as err:
        trainer.get_iteration(project.id, str(uuid.uuid4()))
    assert err.value.error.code == "NotFoundIteration"
    with pytest.raises(Exception) as perr:
        predictor.classify_image(project.id, "nothing", b"\xff\xd8")
    assert perr.value.response.status_code == 404


def test_sdk_bad_key_is_401(live_server):  # type: ignore[no-untyped-def]
    client = CustomVisionTrainingClient(live_server.url, ApiKeyCredentials(in_headers={"Training-key": "nope"}))
    with pytest.raises(CustomVisionErrorException) as err:
        client.get_projects()
    assert err.value.response.status_code == 401


os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
