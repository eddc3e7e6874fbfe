"""Every platform and flavor a compact domain exports (TensorFlow as its TFLite flavor: the SavedModel flavor is
built in tests/ml), through Microsoft's Python SDK against a live server:
export_iteration queues it, the worker's build (run here in-process) makes the zip, get_exports hands out its
downloadUri, and the zip holds what the platform needs with a passed parity report."""

from __future__ import annotations

import io
import json
import uuid
import zipfile

import pytest
import requests
from azure.cognitiveservices.vision.customvision.training import CustomVisionTrainingClient
from azure.cognitiveservices.vision.customvision.training.models import CustomVisionErrorException
from msrest.authentication import ApiKeyCredentials

from tests.predictions.builders import QUICKSTART
from tests.training.builders import dataset_project

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

COMPACT = uuid.UUID("0732100f-1a38-4e49-a514-c9b44c697ab5")  # General (compact), classification
FILES = {
    ("ONNX", None): {"model.onnx", "model_int8.onnx", "labels.txt", "metadata.json", "predict.py", "parity.json",
                     "README.txt"},
    ("ONNX", "ONNX10"): {"model.onnx", "predict.py", "parity.json"},
    ("ONNX", "ONNX12"): {"model.onnx", "predict.py", "parity.json"},
    ("OpenVino", None): {"model.xml", "model.bin", "labels.txt", "metadata.json", "predict.py", "parity.json"},
    ("DockerFile", "Linux"): {"Dockerfile", "app/server.py", "app/predict.py", "app/model.onnx", "app/labels.txt",
                              "parity.json", "README.txt"},
    ("DockerFile", "ARM"): {"Dockerfile", "app/server.py", "app/model.onnx", "parity.json"},
    ("CoreML", None): {"model.mlpackage/Manifest.json", "model.mlpackage/Data/com.apple.CoreML/model.mlmodel",
                       "labels.txt", "metadata.json", "predict.py", "parity.json", "README.txt"},
    ("TensorFlow", "TensorFlowLite"): {"model.tflite", "labels.txt", "metadata.json", "predict.py", "parity.json",
                                       "README.txt"},
}


def test_every_platform_of_a_compact_domain_through_the_sdk(live_server, owner) -> None:  # type: ignore[no-untyped-def]
    from predictions.exports import export_build
    from predictions.models import Export
    from training.models import Iteration
    from training.services import iteration_queue, iteration_run
    from workspaces.services import personal_keys

    project = dataset_project(owner, QUICKSTART, name="Trees", domain_id=COMPACT)
    iteration = iteration_queue(project=project, requested_by=owner)
    iteration_run(iteration_id=iteration.id)
    assert Iteration.objects.get(id=iteration.id).status == Iteration.Status.COMPLETED
    trainer = CustomVisionTrainingClient(
        live_server.url + "/", ApiKeyCredentials(in_headers={"Training-key": personal_keys(user=owner).training_key})
    )
    trainer.config.retry_policy.retries = 0
    assert set(trainer.get_iteration(project.id, iteration.id).exportable_to) == {"ONNX", "OpenVino", "DockerFile",
                                                                                "CoreML", "TensorFlow"}

    for platform, flavor in FILES:
        queued = trainer.export_iteration(project.id, iteration.id, platform, flavor=flavor)
        assert (queued.platform, queued.status, queued.flavor) == (platform, "Exporting", flavor)
        export = Export.objects.get(iteration_id=iteration.id, platform=platform, flavor=flavor or "")
        assert export_build(export_id=export.id).status == Export.Status.DONE, export.error
    listed = {(e.platform, e.flavor): e for e in trainer.get_exports(project.id, iteration.id)}
    assert set(listed) == set(FILES)
    for key, expected in FILES.items():
        assert listed[key].status == "Done"
        response = requests.get(listed[key].download_uri, timeout=60)
        assert response.status_code == 200, key
        zf = zipfile.ZipFile(io.BytesIO(response.content))
        assert expected <= set(zf.namelist()), (key, zf.namelist())
        parity = json.loads(zf.read("parity.json"))
        assert parity["passed"] and parity["images"] > 0, (key, parity)
        if key[0] == "TensorFlow":  # run by LiteRT, not onnxruntime, when the zip was built
            assert parity["runtime"].startswith("ai-edge-litert") and parity["max_abs_diff"] <= 1e-4, parity
        # Only the compact domain's plain ONNX export carries the int8 model and its measured report.
        assert ("int8" in parity) == (key == ("ONNX", None)), key
    int8 = json.loads(zipfile.ZipFile(io.BytesIO(requests.get(listed[("ONNX", None)].download_uri, timeout=60)
                                                  .content)).read("parity.json"))["int8"]
    assert int8["images"] > 0 and int8["top1_agreement"] is not None and int8["speedup"] > 0, int8
    assert Export.objects.get(iteration_id=iteration.id, platform="ONNX", flavor="").parity["int8_meets_bar"] is (
        int8["meets_bar"])
    # Core ML cannot run here: the report says so and holds the reloaded spec's labels, those of labels.txt.
    coreml = zipfile.ZipFile(io.BytesIO(requests.get(listed[("CoreML", None)].download_uri, timeout=60).content))
    report = json.loads(coreml.read("parity.json"))
    assert report["coreml_run"] is False and report["spec"]["labels"] == coreml.read("labels.txt").decode().splitlines()
    assert b"linux/arm64" in zipfile.ZipFile(io.BytesIO(requests.get(
        listed[("DockerFile", "ARM")].download_uri, timeout=60).content)).read("Dockerfile")

    for platform, flavor in [("VAIDK", None), ("CoreML", "ONNX10"), ("DockerFile", "Windows")]:
        with pytest.raises(CustomVisionErrorException) as refused:
            trainer.export_iteration(project.id, iteration.id, platform, flavor=flavor)
        assert refused.value.error.code == "BadRequestProjectUnsupportedExportPlatform", platform
