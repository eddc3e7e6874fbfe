"""The iteration quota: Azure refuses to train a project that keeps its maximum of iterations."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.training.builders import tagged_project
from training import errors
from training.models import Iteration
from training.services import iteration_queue

pytestmark = pytest.mark.django_db


def test_the_train_button_says_to_delete_an_iteration_at_the_limit(settings, owner_client, owner):  # type: ignore[no-untyped-def]
    settings.TAGSIGHT_MAX_ITERATIONS_PER_PROJECT = 1
    project = tagged_project(owner)
    iteration_queue(project=project, requested_by=owner)
    Iteration.objects.update(status="Completed")
    response = owner_client.post(reverse("training:train", args=[project.id]), {"training_type": "Regular",
                                                                               "force": "on"})
    body = response.content.decode()
    assert response.status_code == 400
    assert "This project keeps at most 1 iterations and has 1. Delete an iteration you no longer need" in body
    assert Iteration.objects.count() == 1


def test_the_iteration_limit_counts_every_kept_iteration_and_zero_turns_it_off(settings, owner):  # type: ignore[no-untyped-def]
    settings.TAGSIGHT_MAX_ITERATIONS_PER_PROJECT = 2
    project = tagged_project(owner)
    for _ in range(2):
        iteration_queue(project=project, requested_by=owner, force=True)
        Iteration.objects.update(status="Cancelled")
    with pytest.raises(errors.IterationLimitExceeded) as caught:
        iteration_queue(project=project, requested_by=owner, force=True)
    assert caught.value.code == "BadRequestExceedIterationPerProjectLimit"
    settings.TAGSIGHT_MAX_ITERATIONS_PER_PROJECT = 0
    assert iteration_queue(project=project, requested_by=owner, force=True).number == 3
