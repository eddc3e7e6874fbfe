"""Detection results are cut to the project's "max detections", most probable first, never under 1 %."""

from __future__ import annotations

import pytest

from tests.predictions.builders import DETECTION, tiny_fork_detector

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def test_api_and_quick_test_return_the_projects_max_detections(owner, client, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from predictions.models import StoredPrediction
    from predictions.services import prediction_run, predictor_get
    from projects.models import DEFAULT_MAX_DETECTIONS, Project
    from training.ml.detection.limits import SCORE_FLOOR
    from training.services import iteration_publish
    from workspaces.services import personal_keys

    project, iteration = tiny_fork_detector(owner, tmp_path, per_tag=1)
    iteration = iteration_publish(iteration=iteration, publish_name="cutlery")
    photo = (DETECTION / "fork" / "fork_2.jpg").read_bytes()
    every = [(p.tag, p.probability, p.box) for p in predictor_get(iteration=iteration).predict(photo)]
    assert len(every) > 5 and min(p for _, p, _ in every) >= SCORE_FLOOR  # the engine's own floor: 1 %

    assert project.max_detections == DEFAULT_MAX_DETECTIONS
    default = prediction_run(project=project, iteration=iteration, data=photo, store=False).predictions
    assert len(default) == min(len(every), DEFAULT_MAX_DETECTIONS)

    Project.objects.filter(id=project.id).update(max_detections=5)
    key = personal_keys(user=owner).prediction_key
    url = f"/customvision/v3.0/Prediction/{project.id}/detect/iterations/cutlery/image"
    response = client.post(url, data=photo, content_type="application/octet-stream", HTTP_PREDICTION_KEY=key)
    assert response.status_code == 200, response.content
    boxes = response.json()["predictions"]
    assert [(p["tagName"], p["probability"]) for p in boxes] == [(t, p) for t, p, _ in every[:5]]
    assert [p["boundingBox"]["left"] for p in boxes] == pytest.approx([b.left for _, _, b in every[:5]])
    stored = StoredPrediction.objects.get(id=response.json()["id"])
    assert [p["probability"] for p in stored.predictions] == [p for _, p, _ in every[:5]]

    project.refresh_from_db()  # Quick Test: the same service, the same cut
    quick = prediction_run(project=project, iteration=iteration, data=photo, store=True, source="quicktest")
    assert [p["probability"] for p in quick.predictions] == [p for _, p, _ in every[:5]]
