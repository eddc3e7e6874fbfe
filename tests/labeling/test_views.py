"""Labeling views: the labeler pages, region endpoints (each bad input a 4xx, nothing written), strangers 404."""

from __future__ import annotations

import json
import uuid

import pytest
from django.urls import reverse

from labeling import services
from labeling.models import Region
from projects.services import project_create, tag_create
from tests.labeling.conftest import upload

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}
BOX = {"left": "0.1", "top": "0.2", "width": "0.3", "height": "0.4"}


def create_url(image):  # type: ignore[no-untyped-def]
    return reverse("labeling:region-create", args=[image.id])


def test_detection_labeler_shows_the_display_rendition_regions_tags_and_progress(owner_client, image, fork, scissors):
    services.region_create(image=image, tag=fork, left=0.1, top=0.2, width=0.3, height=0.4)
    page = owner_client.get(reverse("labeling:labeler", args=[image.id]))
    html = page.content.decode()
    assert page.status_code == 200
    assert reverse("projects:image-file", args=[image.id, "display"]) in html
    assert f'data-region-id="{Region.objects.get().id}"' in html and 'data-left="0.100000"' in html
    assert 'data-hotkey="1"' in html and 'data-hotkey="2"' in html and ">scissors<" in html
    assert "1 of 1" in html
    assert "labeling/labeler.js" in html


def test_classification_project_gets_the_fast_tagger(owner_client, classification):
    hemlock = tag_create(project=classification, name="Hemlock")
    tag_create(project=classification, name="Negative", type="Negative")
    image = upload(classification)
    html = owner_client.get(reverse("labeling:labeler", args=[image.id])).content.decode()
    assert "labeling/classify.js" in html and 'id="tag-buttons"' in html
    assert f'value="{hemlock.id}"' in html and 'data-hotkey="1"' in html and 'data-hotkey="n"' in html


def test_progress_and_neighbours_follow_the_filter(owner_client, detection, fork):
    images = [upload(detection, color=(10 * i, 0, 0)) for i in range(5)]  # newest last
    services.region_create(image=images[1], tag=fork, left=0, top=0, width=0.5, height=0.5)
    services.region_create(image=images[3], tag=fork, left=0, top=0, width=0.5, height=0.5)
    untagged = [images[4], images[2], images[0]]  # newest first, as the grid shows them
    page = owner_client.get(reverse("labeling:labeler", args=[untagged[1].id]) + "?filter=untagged")
    ctx = page.context
    assert (ctx["nav"].position, ctx["nav"].total) == (2, 3)
    assert ctx["previous_url"] == reverse("labeling:labeler", args=[untagged[0].id]) + "?filter=untagged"
    assert ctx["next_url"] == reverse("labeling:labeler", args=[untagged[2].id]) + "?filter=untagged"
    assert "2 of 3" in page.content.decode()
    by_tag = owner_client.get(reverse("labeling:labeler", args=[images[3].id]) + f"?tag={fork.id}").context
    assert (by_tag["nav"].position, by_tag["nav"].total, by_tag["next_url"]) == (1, 2, reverse(
        "labeling:labeler", args=[images[1].id]) + f"?tag={fork.id}")


def test_an_image_that_just_left_the_filter_still_has_neighbours(owner_client, detection, fork):
    older, current, newer = (upload(detection, color=(0, 0, c)) for c in (1, 2, 3))
    services.region_create(image=current, tag=fork, left=0, top=0, width=0.5, height=0.5)
    ctx = owner_client.get(reverse("labeling:labeler", args=[current.id]) + "?filter=untagged").context
    assert ctx["nav"].included is False and ctx["nav"].total == 2
    assert ctx["next_url"].startswith(reverse("labeling:labeler", args=[older.id]))
    assert ctx["previous_url"].startswith(reverse("labeling:labeler", args=[newer.id]))


def test_create_region_answers_the_region_list_fragment(owner_client, image, fork):
    region_id = uuid.uuid4()
    response = owner_client.post(create_url(image), {**BOX, "tag": fork.id, "id": region_id}, **HX)
    html = response.content.decode()
    assert response.status_code == 201
    assert 'id="region-list"' in html and f'data-region-id="{region_id}"' in html and "<html" not in html
    assert Region.objects.get().id == region_id
    assert list(image.tags.all()) == [fork]


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"tag": "not-a-uuid"}, 404, "NotFoundTag"),
        ({"tag": str(uuid.uuid4())}, 404, "NotFoundTag"),
        ({"tag": ""}, 400, "BadRequestImageRegions"),
        ({"left": "abc"}, 400, "BadRequestImageRegions"),
        ({"left": "nan"}, 400, "BadRequestImageRegions"),
        ({"width": "0"}, 400, "BadRequestImageRegions"),
        ({"left": "-0.2"}, 400, "BadRequestImageRegions"),
        ({"left": "0.9"}, 400, "BadRequestImageRegions"),
        ({"top": "1.5"}, 400, "BadRequestImageRegions"),
        ({"height": ""}, 400, "BadRequestImageRegions"),
    ],
)
def test_bad_region_input_is_refused_with_a_message_and_nothing_written(  # type: ignore[no-untyped-def]
    owner_client, image, fork, change, status, code
):
    response = owner_client.post(create_url(image), {**BOX, "tag": fork.id, **change}, **HX)
    body = json.loads(response.content)
    assert response.status_code == status and body["code"] == code and body["message"]
    assert not Region.objects.exists() and not image.tags.exists()


def test_tag_of_another_project_is_refused(owner_client, owner, image):
    alien = tag_create(project=project_create(created_by=owner, name="Other", project_type="detection"), name="alien")
    response = owner_client.post(create_url(image), {**BOX, "tag": alien.id}, **HX)
    assert response.status_code == 404 and response.json()["code"] == "NotFoundTag"
    assert not Region.objects.exists()


def test_update_and_delete_answer_the_fragment(owner_client, image, fork, scissors):
    region = services.region_create(image=image, tag=fork, left=0.1, top=0.2, width=0.3, height=0.4)
    url = reverse("labeling:region-update", args=[region.id])
    response = owner_client.post(url, {"tag": scissors.id, "left": "0.5", "width": "0.25"}, **HX)
    assert response.status_code == 200 and ">scissors<" in response.content.decode()
    region.refresh_from_db()
    assert (region.tag, region.left, region.top, region.width) == (scissors, 0.5, 0.2, 0.25)
    assert owner_client.post(url, {"left": "0.9"}, **HX).json()["code"] == "BadRequestImageRegions"
    response = owner_client.post(reverse("labeling:region-delete", args=[region.id]), **HX)
    assert response.status_code == 200 and not Region.objects.exists() and not image.tags.exists()


def test_tag_create_from_the_picker(owner_client, image, fork):
    response = owner_client.post(reverse("labeling:tag-create", args=[image.id]), {"name": "spoon"}, **HX)
    assert response.status_code == 200 and 'data-name="spoon"' in response.content.decode()
    created = json.loads(response["HX-Trigger"])["tagCreated"]
    assert created["name"] == "spoon"
    duplicate = owner_client.post(reverse("labeling:tag-create", args=[image.id]), {"name": "Fork"}, **HX)
    assert duplicate.status_code == 400 and duplicate.json()["code"] == "BadRequestTagNameNotUnique"


def test_a_tag_name_over_200_characters_is_refused_by_the_picker_with_a_clear_message(owner_client, image, fork):
    response = owner_client.post(reverse("labeling:tag-create", args=[image.id]), {"name": "x" * 300}, **HX)
    assert response.status_code == 400
    assert response.json()["message"] == "Tag names can be at most 200 characters; this one has 300."


def test_fast_tagger_sets_tags_and_answers_the_buttons(owner_client, classification):
    hemlock = tag_create(project=classification, name="Hemlock")
    cherry = tag_create(project=classification, name="Cherry")
    image = upload(classification)
    url = reverse("labeling:tag-set", args=[image.id])
    response = owner_client.post(url, {"tag": hemlock.id, "on": "1"}, **HX)
    assert response.status_code == 200 and 'id="tag-buttons"' in response.content.decode()
    owner_client.post(url, {"tag": cherry.id, "on": "1"}, **HX)
    assert list(image.tags.all()) == [cherry]
    plain = owner_client.post(url + "?filter=untagged", {"tag": cherry.id, "on": "0"})  # no JS: redirect back
    assert plain.status_code == 302 and plain["Location"].endswith("?filter=untagged")
    assert not image.tags.exists()
    bad = owner_client.post(url, {"tag": str(uuid.uuid4()), "on": "1"}, **HX)
    assert bad.status_code == 404 and bad.json()["code"] == "NotFoundTag"
