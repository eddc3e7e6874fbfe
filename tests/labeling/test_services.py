"""labeling.services: every bad input refused with Azure's code and nothing written; image tags follow regions."""

from __future__ import annotations

import uuid

import pytest

from labeling import services
from labeling.errors import InvalidRegion, NotFoundImage, NotFoundTag, RegionLimitExceeded
from labeling.models import Region
from labeling.services import RegionEntry
from projects.services import project_create, tag_create
from tests.labeling.conftest import upload

pytestmark = pytest.mark.django_db

BOX = {"left": 0.1, "top": 0.2, "width": 0.3, "height": 0.4}


def test_region_create_stores_the_box_and_tags_the_image(image, fork):
    region = services.region_create(image=image, tag=fork, **BOX)
    region.refresh_from_db()
    assert (region.left, region.top, region.width, region.height) == (0.1, 0.2, 0.3, 0.4)
    assert list(image.tags.all()) == [fork]


def test_a_box_touching_the_edges_with_float_noise_is_snapped_inside(image, fork):
    region = services.region_create(image=image, tag=fork, left=0.5, top=0.0, width=0.5000000001, height=1.0)
    assert region.left + region.width <= 1.0


@pytest.mark.parametrize(
    "box",
    [
        {"left": 0.1, "top": 0.1, "width": 0, "height": 0.2},
        {"left": 0.1, "top": 0.1, "width": 0.2, "height": 0},
        {"left": -0.1, "top": 0.1, "width": 0.2, "height": 0.2},
        {"left": 0.9, "top": 0.1, "width": 0.2, "height": 0.2},
        {"left": 0.1, "top": 1.2, "width": 0.2, "height": 0.2},
        {"left": float("nan"), "top": 0.1, "width": 0.2, "height": 0.2},
    ],
)
def test_region_outside_the_image_or_of_zero_size_is_rejected(image, fork, box):
    with pytest.raises(InvalidRegion) as exc:
        services.region_create(image=image, tag=fork, **box)
    assert exc.value.code == "BadRequestImageRegions" and exc.value.status == 400
    assert not Region.objects.exists() and not image.tags.exists()


def test_tag_of_another_project_is_not_found(image, owner):
    other = project_create(created_by=owner, name="Other", project_type="detection")
    alien = tag_create(project=other, name="alien")
    with pytest.raises(NotFoundTag) as exc:
        services.region_create(image=image, tag=alien, **BOX)
    assert exc.value.code == "NotFoundTag" and exc.value.status == 404
    assert not Region.objects.exists()


def test_the_negative_tag_cannot_be_a_region(owner):
    project = project_create(created_by=owner, name="Trees")
    negative = tag_create(project=project, name="Negative", type="Negative")
    image = upload(project)
    with pytest.raises(InvalidRegion):
        services.region_create(image=image, tag=negative, **BOX)


def test_a_retried_create_with_the_same_id_is_harmless(image, fork):
    region_id = uuid.uuid4()
    first = services.region_create(image=image, tag=fork, region_id=region_id, **BOX)
    again = services.region_create(image=image, tag=fork, region_id=region_id, **BOX)
    assert first.id == again.id == region_id and Region.objects.count() == 1


def test_reusing_a_region_id_for_another_box_is_rejected(image, fork):
    region = services.region_create(image=image, tag=fork, **BOX)
    with pytest.raises(InvalidRegion):
        services.region_create(image=image, tag=fork, region_id=region.id, left=0.5, top=0.5, width=0.1, height=0.1)


def test_an_image_holds_at_most_300_regions(image, fork, monkeypatch):
    monkeypatch.setattr(services, "MAX_REGIONS_PER_IMAGE", 2)
    services.region_create(image=image, tag=fork, **BOX)
    services.region_create(image=image, tag=fork, **BOX)
    with pytest.raises(RegionLimitExceeded) as exc:
        services.region_create(image=image, tag=fork, **BOX)
    assert exc.value.code == "ErrorRegionLimitExceed"
    assert services.MAX_REGIONS_PER_IMAGE == 2 and Region.objects.count() == 2


def test_update_moves_resizes_and_keeps_unchanged_fields(image, fork):
    region = services.region_create(image=image, tag=fork, **BOX)
    services.region_update(region=region, left=0.5, width=0.2)
    region.refresh_from_db()
    assert (region.left, region.top, region.width, region.height) == (0.5, 0.2, 0.2, 0.4)


def test_update_outside_the_image_writes_nothing(image, fork):
    region = services.region_create(image=image, tag=fork, **BOX)
    with pytest.raises(InvalidRegion):
        services.region_update(region=region, left=0.8)  # 0.8 + 0.3 > 1
    region.refresh_from_db()
    assert region.left == 0.1


def test_retag_moves_the_image_tag_when_the_last_box_changes(image, fork, scissors):
    a = services.region_create(image=image, tag=fork, **BOX)
    b = services.region_create(image=image, tag=fork, **BOX)
    services.region_update(region=a, tag=scissors)
    assert set(image.tags.all()) == {fork, scissors}  # b still carries fork
    services.region_update(region=b, tag=scissors)
    assert list(image.tags.all()) == [scissors]


def test_retag_to_another_projects_tag_is_not_found(image, fork, owner):
    region = services.region_create(image=image, tag=fork, **BOX)
    alien = tag_create(project=project_create(created_by=owner, name="Other", project_type="detection"), name="alien")
    with pytest.raises(NotFoundTag):
        services.region_update(region=region, tag=alien)
    region.refresh_from_db()
    assert region.tag == fork


def test_deleting_the_last_region_of_a_tag_removes_it_from_the_image(image, fork, scissors):
    a = services.region_create(image=image, tag=fork, **BOX)
    b = services.region_create(image=image, tag=scissors, **BOX)
    services.region_delete(region=a)
    assert list(image.tags.all()) == [scissors]
    services.region_delete(region=b)
    assert not image.tags.exists() and not Region.objects.exists()


def test_batch_creates_and_reports_duplicates_and_exceeded(detection, image, fork, scissors, monkeypatch):
    monkeypatch.setattr(services, "MAX_REGIONS_PER_IMAGE", 3)
    services.region_create(image=image, tag=fork, **BOX)
    entries = [
        RegionEntry(image.id, fork.id, **BOX),  # same as the existing one: duplicated
        RegionEntry(image.id, scissors.id, **BOX),  # same box, other tag: created
        RegionEntry(image.id, scissors.id, **BOX),  # repeated inside the batch: duplicated
        RegionEntry(image.id, fork.id, 0.5, 0.5, 0.1, 0.1),  # created (3rd region)
        RegionEntry(image.id, fork.id, 0.6, 0.6, 0.1, 0.1),  # over the limit: exceeded
    ]
    created, duplicated, exceeded = services.regions_create(project=detection, entries=entries)
    assert [(r.tag_id, r.left) for r in created] == [(scissors.id, 0.1), (fork.id, 0.5)]
    assert duplicated == [entries[0], entries[2]] and exceeded == [entries[4]]
    assert Region.objects.filter(image=image).count() == 3
    assert set(image.tags.all()) == {fork, scissors}


@pytest.mark.parametrize("bad", ["image", "tag", "box"])
def test_batch_with_one_bad_entry_writes_nothing(detection, image, fork, owner, bad):
    other = project_create(created_by=owner, name="Other", project_type="detection")
    good = RegionEntry(image.id, fork.id, **BOX)
    wrong = {
        "image": RegionEntry(upload(other).id, fork.id, **BOX),
        "tag": RegionEntry(image.id, tag_create(project=other, name="alien").id, **BOX),
        "box": RegionEntry(image.id, fork.id, 0.9, 0.1, 0.5, 0.1),
    }[bad]
    error = {"image": NotFoundImage, "tag": NotFoundTag, "box": InvalidRegion}[bad]
    with pytest.raises(error):
        services.regions_create(project=detection, entries=[good, wrong])
    assert not Region.objects.exists()


def test_multiclass_tag_set_replaces_the_other_tag(classification):
    hemlock = tag_create(project=classification, name="Hemlock")
    cherry = tag_create(project=classification, name="Cherry")
    image = upload(classification)
    services.image_tag_set(image=image, tag=hemlock, on=True)
    assert services.image_tag_set(image=image, tag=cherry, on=True) == [cherry]
    assert services.image_tag_set(image=image, tag=cherry, on=True) == [cherry]  # a retry changes nothing
    assert services.image_tag_set(image=image, tag=cherry, on=False) == []


def test_multilabel_tags_add_up_and_negative_excludes_them(owner):
    project = project_create(created_by=owner, name="Scenes", classification_type="Multilabel")
    sky, sea = tag_create(project=project, name="sky"), tag_create(project=project, name="sea")
    negative = tag_create(project=project, name="Negative", type="Negative")
    image = upload(project)
    services.image_tag_set(image=image, tag=sky, on=True)
    assert set(services.image_tag_set(image=image, tag=sea, on=True)) == {sky, sea}
    assert services.image_tag_set(image=image, tag=negative, on=True) == [negative]
    assert services.image_tag_set(image=image, tag=sky, on=True) == [sky]


def test_tag_set_with_another_projects_tag_is_not_found(classification, owner):
    image = upload(classification)
    alien = tag_create(project=project_create(created_by=owner, name="Other"), name="alien")
    with pytest.raises(NotFoundTag):
        services.image_tag_set(image=image, tag=alien, on=True)
    assert not image.tags.exists()
