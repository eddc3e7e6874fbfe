"""A domain's training recipe (``projects.domains.Domain.image_size``, ``pooling``) reaches the trained model through
the service."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from django.urls import reverse
from onnx import TensorProto, helper

from projects.domains import DOMAINS
from tests.training.builders import tagged_project
from training.ml.backbones import get_spec
from training.ml.runtime import make_session
from training.models import Iteration
from training.services import iteration_queue, iteration_run
from training.storage import iteration_artifact_local

pytestmark = pytest.mark.django_db



def test_domains_that_change_the_recipe_say_so_and_the_others_say_they_train_general() -> None:
    general = {d.type: d for d in DOMAINS if d.name == "General"}
    for domain in DOMAINS:
        if domain.image_size is not None:
            assert f"{domain.image_size} px" in domain.description, domain.name
        if domain.framings != ("centre",):
            assert "whole frame" in domain.description, domain.name
        if domain.pooling.startswith("gem"):
            assert "GeM" in domain.description, domain.name
        if domain.name in ("Food", "Logo"):
            assert "trains exactly what General" in domain.description, domain.name
            same = general[domain.type]
            assert (domain.backbone, domain.image_size, domain.framings, domain.pooling) == (
                same.backbone, same.image_size, same.framings, same.pooling), domain.name


@pytest.mark.parametrize("name", ["Retail", "General"])
def test_an_iteration_is_trained_and_predicts_with_its_domains_resolution_and_pooling(  # type: ignore[no-untyped-def]
        owner, owner_client, name: str) -> None:
    domain = next(d for d in DOMAINS if d.name == name and d.type == "Classification")
    assert domain.image_size and domain.image_size > get_spec(domain.backbone).image_size
    project = tagged_project(owner, domain_id=domain.id)
    iteration = iteration_queue(project=project, requested_by=owner)
    iteration_run(iteration_id=iteration.id)
    iteration = Iteration.objects.get(id=iteration.id)
    assert iteration.status == Iteration.Status.COMPLETED, iteration.error
    assert iteration.metrics["image_size"] == domain.image_size
    assert iteration.metrics["pooling"] == domain.pooling == ("gem-unclipped" if name == "General" else "avg")
    page = owner_client.get(reverse("training:iteration-detail", args=[iteration.id])).content.decode()
    pooled = ", GeM pooling of its unclipped features" if name == "General" else ""
    said = f"EfficientNet-Lite0 at {domain.image_size} px{pooled} (quick mode)"
    assert said in page
    penalty = iteration.metrics["weight_decay"]
    assert f"its L2 penalty {penalty} chosen by a cross-validation (up to 5 folds)" in page
    assert "among 0.001, 0.01, 0.1, 1.0, 10.0" in page

    # What the stored model itself feeds its trunk: expose the pre-processed pixels and run it on an odd-sized image.
    artifact = iteration_artifact_local(iteration=iteration)
    model = onnx.load(str(artifact / "model.onnx"))
    model.graph.output.append(helper.make_tensor_value_info("pixels", TensorProto.FLOAT, None))
    image = np.full((37, 53, 3), 120, dtype=np.uint8)
    probabilities, _, pixels = make_session(model.SerializeToString()).run(None, {"image": image})
    assert pixels.shape == (1, 3, domain.image_size, domain.image_size)
    assert probabilities.shape == (1, 2) and abs(float(probabilities.sum()) - 1) < 1e-5
