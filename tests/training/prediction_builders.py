"""Builders for the prediction tests: the azure-quickstart classifier trained through the real service path."""

from __future__ import annotations

from typing import Any

from tests.factories import DATASETS
from tests.training.builders import dataset_project

QUICKSTART = DATASETS / "azure-quickstart" / "classification"
TEST_IMAGE = DATASETS / "azure-quickstart" / "classification" / "Test" / "test_image.jpg"


def trained_quickstart(owner: Any, *, publish_name: str | None = None) -> tuple[Any, Any]:
    """A classification project with the quickstart's 10 + 10 photos, trained (Quick) in-process; (project, iteration)."""
    from training.models import Iteration
    from training.services import iteration_publish, iteration_queue, iteration_run

    project = dataset_project(owner, QUICKSTART, name="Trees")
    iteration = iteration_queue(project=project, requested_by=owner)
    iteration_run(iteration_id=iteration.id)
    iteration = Iteration.objects.get(id=iteration.id)
    assert iteration.status == Iteration.Status.COMPLETED, iteration.error
    if publish_name:
        iteration = iteration_publish(iteration=iteration, publish_name=publish_name)
    return project, iteration
