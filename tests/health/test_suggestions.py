"""Smart Labeler: stored suggestions (computed once per iteration and image file), groups, confirm/correct, the
Azure suggestion endpoints without the old 256-image cap, and the Suggested tags page's permissions.

One real classifier (the quickstart's, trained in-process) serves each test; the background run's task body runs
in-process here (tests/e2e/test_smart_labeler.py runs it on a real worker)."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import pytest
from PIL import Image as PILImage
from PIL import ImageOps

from tests.predictions.builders import trained_quickstart
from tests.training.builders import add_image

pytestmark = pytest.mark.django_db


def untagged_crops(project: Any, count: int) -> list[Any]:
    """``count`` distinct crops of the project's tagged photos (each tag in turn), uploaded untagged (the model
    knows them well)."""
    by_tag: dict[str, list[Any]] = {}
    for photo in project.images.prefetch_related("tags").order_by("original_name"):
        by_tag.setdefault(min((t.name for t in photo.tags.all()), default=""), []).append(photo)
    photos = [p for row in zip(*by_tag.values(), strict=False) for p in row]  # the tags in turn
    out = []
    for k in range(count):
        source = photos[k % len(photos)]
        with source.file.open("rb") as fh:
            photo = ImageOps.exif_transpose(PILImage.open(fh)).convert("RGB")
        w, h = photo.size
        shift = 1 + k // len(photos)
        crop = photo.crop((shift * w // 30, shift * h // 40, w - shift * w // 50, h - shift * h // 35))
        buf = io.BytesIO()
        crop.resize((crop.width // 2, crop.height // 2)).save(buf, format="JPEG", quality=85)
        out.append(add_image(project, data=buf.getvalue()))
    return out


@pytest.fixture
def trained(owner):  # type: ignore[no-untyped-def]
    return trained_quickstart(owner)


def test_suggestions_are_stored_grouped_confirmed_and_invalidated(trained, owner) -> None:  # type: ignore[no-untyped-def]
    from health.suggestions import (
        suggestion_confirm,
        suggestion_groups,
        suggestion_run_execute,
        suggestion_run_start,
        suggestions_compute,
    )
    from health.suggestions_models import Suggestion, SuggestionRun
    from labeling.services import image_tag_set

    project, iteration = trained
    images = untagged_crops(project, 6)
    run = suggestion_run_start(iteration=iteration)
    assert (run.status, run.total) == ("queued", 6)
    assert suggestion_run_start(iteration=iteration).id == run.id  # a run in progress is left alone ...
    SuggestionRun.objects.filter(id=run.id).update(updated=run.updated - timedelta(hours=1))
    restarted = suggestion_run_start(iteration=iteration)  # ... unless it lost its worker
    assert (restarted.id, restarted.status, restarted.updated > run.updated) == (run.id, "queued", True)
    suggestion_run_execute(iteration_id=iteration.id)
    run = SuggestionRun.objects.get(iteration=iteration)
    assert (run.status, run.done, run.total, run.percent) == ("done", 6, 6, 100)
    tags = {t.name: t for t in project.tags.all()}
    assert Suggestion.objects.filter(iteration=iteration).count() == 6 * len(tags)  # every tag, every image
    assert suggestions_compute(iteration=iteration, images=images) == 0  # stored: nothing is predicted again

    groups = suggestion_groups(iteration=iteration)
    assert sum(len(g.items) for g in groups.groups) == 6 and groups.pending == 0 and groups.below == 0
    for group in groups.groups:
        confidences = [i.confidence for i in group.items]
        assert confidences == sorted(confidences)  # most uncertain first
        for item in group.items:  # the group's tag is the image's most likely one
            best = Suggestion.objects.filter(iteration=iteration, image=item.image).order_by("-confidence").first()
            assert best is not None and best.tag_id == group.tag.id and best.confidence == item.confidence
    confident = suggestion_groups(iteration=iteration, order="confident")
    assert [i.confidence for i in confident.groups[0].items] == sorted(
        (i.confidence for i in confident.groups[0].items), reverse=True)
    high = suggestion_groups(iteration=iteration, threshold=0.999)
    assert high.below == 6 - sum(len(g.items) for g in high.groups)

    # Confirm a whole group: its images are tagged and leave the suggestions.
    group = groups.groups[0]
    assert suggestion_confirm(project=project, image_ids=[i.image.id for i in group.items], tag=group.tag) == len(
        group.items)
    for item in group.items:
        assert list(item.image.tags.all()) == [group.tag]
    assert not Suggestion.objects.filter(image__in=[i.image for i in group.items]).exists()
    left = suggestion_groups(iteration=iteration)
    assert sum(len(g.items) for g in left.groups) == 6 - len(group.items)

    # Tagging an image anywhere drops its suggestions (the hook); a changed file makes them stale.
    rest = [i for i in images if not i.tags.exists()]
    if rest:
        image_tag_set(image=rest[0], tag=tags["Hemlock"], on=True)
        assert not Suggestion.objects.filter(image=rest[0]).exists()
    other = untagged_crops(project, 7)[-1]
    suggestions_compute(iteration=iteration, images=[other])
    Suggestion.objects.filter(image=other).update(sha256="0" * 64)
    assert suggestions_compute(iteration=iteration, images=[other]) == 1
    assert set(Suggestion.objects.filter(image=other).values_list("sha256", flat=True)) == {other.sha256}

    # A tag of another project is refused; deleting the iteration takes its suggestions and run.
    from health.suggestions import SuggestionError
    from tests.factories import make_project, make_tag

    stranger_tag = make_tag(make_project(owner, name="Other"), "X")
    with pytest.raises(SuggestionError):
        suggestion_confirm(project=project, image_ids=[other.id], tag=stranger_tag)
    iteration.delete()
    assert not Suggestion.objects.exists() and not SuggestionRun.objects.exists()


@pytest.mark.slow
def test_azure_suggestion_endpoints_see_every_untagged_image(trained, owner) -> None:  # type: ignore[no-untyped-def]
    """More than the old cap (256 newest untagged images): every one is suggested and counted."""
    from django.test import Client

    from workspaces.services import personal_keys

    project, iteration = trained
    for _ in range(257):
        add_image(project)  # distinct single-colour images: cheap to predict
    client = Client(HTTP_TRAINING_KEY=personal_keys(user=owner).training_key)
    base = f"/customvision/v3.3/training/projects/{project.id}/images/suggested"
    counts = client.post(f"{base}/count?iterationId={iteration.id}", {"threshold": 0}, content_type="application/json")
    assert counts.status_code == 200, counts.content
    assert set(counts.json().values()) == {257}  # at threshold 0 every image counts for every tag
    seen, token = 0, {"maxCount": 200}
    while True:
        page = client.post(f"{base}?iterationId={iteration.id}", token, content_type="application/json").json()
        seen += len(page["results"])
        token = page["token"]
        if not token["continuation"]:
            break
    assert seen == 257
