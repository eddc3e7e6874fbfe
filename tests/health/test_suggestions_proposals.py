"""Region proposals: the current detector's boxes made class-agnostic, or the generic method without one; the
labeler's proposals endpoint and the permissions of the Suggested tags page."""

from __future__ import annotations

import pytest
from PIL import Image as PILImage

from tests.factories import DATASETS, make_project, make_tag
from tests.predictions.builders import DETECTION, tiny_fork_detector
from tests.training.builders import add_image

pytestmark = pytest.mark.django_db
RACCOON = DATASETS / "raccoon" / "images" / "raccoon-1.jpg"


def test_generic_proposals_find_the_raccoon() -> None:
    """No Django: boxes in [0, 1], most confident first, and one of them on the labelled raccoon (IoU >= 0.5)."""
    import json

    from health.smartlabel_proposals import iou, propose

    boxes = propose(PILImage.open(RACCOON))
    assert 1 <= len(boxes) <= 20
    assert [b.confidence for b in boxes] == sorted((b.confidence for b in boxes), reverse=True)
    assert all(0 <= b.left and 0 <= b.top and b.left + b.width <= 1 + 1e-9 and b.top + b.height <= 1 + 1e-9
               for b in boxes)
    (truth,) = json.loads((DATASETS / "raccoon" / "manifest.json").read_text())["images"]["images/raccoon-1.jpg"][
        "regions"]
    xywh = (truth["left"], truth["top"], truth["width"], truth["height"])
    assert max(iou(xywh, (b.left, b.top, b.width, b.height)) for b in boxes) >= 0.5


@pytest.mark.slow
def test_detector_proposals_are_class_agnostic(owner, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from health.smartlabel_proposals import iou
    from health.suggestions_proposals import CUTOFF
    from labeling.proposals import proposals_for
    from predictions.services import predictor_get

    project, iteration = tiny_fork_detector(owner, tmp_path, per_tag=2)
    data = (DETECTION / "fork" / sorted(p.name for p in (DETECTION / "fork").iterdir())[-1]).read_bytes()
    image = add_image(project, data=data)
    proposals = proposals_for(image=image)
    raw = [p for p in predictor_get(iteration=iteration).predict(data) if p.probability >= CUTOFF]
    assert len(proposals) <= min(20, len(raw))
    keys = {(round(p.box.left, 6), round(p.box.top, 6), round(p.box.width, 6), round(p.box.height, 6)) for p in raw}
    for p in proposals:  # every proposal is one of the detector's boxes, whatever its tag ...
        assert (p.left, p.top, p.width, p.height) in keys and p.confidence >= CUTOFF
    for i, a in enumerate(proposals):  # ... and suppressed across tags
        for b in proposals[i + 1 :]:
            assert iou((a.left, a.top, a.width, a.height), (b.left, b.top, b.width, b.height)) < 0.5
    if raw:
        assert proposals and proposals[0].confidence == pytest.approx(max(p.probability for p in raw), abs=1e-4)


def test_labeler_proposals_endpoint(owner, owner_client) -> None:  # type: ignore[no-untyped-def]
    project = make_project(owner, name="Raccoons", project_type="detection")
    make_tag(project, "raccoon")
    image = add_image(project, data=RACCOON.read_bytes())
    body = owner_client.get(f"/images/{image.id}/label/proposals/").json()
    assert body["proposals"] and set(body["proposals"][0]) == {"confidence", "boundingBox"}
    classifier = make_project(owner, name="Trees")
    photo = add_image(classifier, data=RACCOON.read_bytes())
    assert owner_client.get(f"/images/{photo.id}/label/proposals/").json() == {"proposals": []}


def test_suggested_tags_page_without_an_iteration_and_bad_input(owner, owner_client) -> None:  # type: ignore[no-untyped-def]
    project = make_project(owner, name="Trees")
    tag = make_tag(project, "Hemlock")
    page = owner_client.get(f"/projects/{project.id}/suggestions/")
    assert page.status_code == 200 and b"Train an iteration first" in page.content
    grid = owner_client.get(f"/projects/{project.id}/")
    assert b'data-testid="suggested-tags"' not in grid.content  # no iteration: no button
    bad = owner_client.post(f"/projects/{project.id}/suggestions/confirm", {"tag": str(tag.id)})
    assert bad.status_code == 400 and b"Choose a tag and at least one image" in bad.content
    run = owner_client.post(f"/projects/{project.id}/suggestions/run", {"iteration": "nope"})
    assert run.status_code == 400 and b"Choose a trained iteration" in run.content
    detection = make_project(owner, name="Forks", project_type="detection")
    page = owner_client.get(f"/projects/{detection.id}/suggestions/")
    assert b"open an untagged image in the labeler" in page.content


def test_confirm_one_and_correct_one(owner, owner_client) -> None:  # type: ignore[no-untyped-def]
    project = make_project(owner, name="Trees")
    hemlock, cherry = make_tag(project, "Hemlock"), make_tag(project, "Cherry")
    first, second = add_image(project), add_image(project)
    url = f"/projects/{project.id}/suggestions/confirm"
    confirmed = owner_client.post(url, {"image": str(first.id), "tag": str(hemlock.id), "correct": ""},
                                  HTTP_HX_REQUEST="true")
    assert confirmed.status_code == 200 and "Tagged 1 image “Hemlock”" in confirmed.content.decode()
    corrected = owner_client.post(url, {"image": str(second.id), "tag": str(hemlock.id), "correct": str(cherry.id)})
    assert corrected.status_code == 302  # a plain form post goes back to the page
    assert [t.name for t in first.tags.all()] == ["Hemlock"] and [t.name for t in second.tags.all()] == ["Cherry"]


@pytest.mark.slow
def test_detector_suggestions_keep_the_projects_max_detections(owner, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The Smart Labeler's suggested regions (Azure's SuggestTagsAndRegions) are the prediction API's answer: at most
    the project's max detections, the most probable ones."""
    from health.suggestions import suggestions_for
    from predictions.services import predictor_get

    project, iteration = tiny_fork_detector(owner, tmp_path, per_tag=2)
    data = (DETECTION / "fork" / sorted(p.name for p in (DETECTION / "fork").iterdir())[-1]).read_bytes()
    image = add_image(project, data=data)
    raw = predictor_get(iteration=iteration).predict(data)
    assert len(raw) > 3  # the model's full answer is longer than the setting below
    project.max_detections = 3
    project.save(update_fields=["max_detections"])
    iteration.refresh_from_db()
    suggested = suggestions_for(iteration=iteration, images=[image])[image.id]
    assert len(suggested) == 3
    assert [round(s["probability"], 6) for s in suggested] == [round(p.probability, 6) for p in raw[:3]]
