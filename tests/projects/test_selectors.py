"""Selectors: scoping to the owner, annotated counts, Azure-style image filters, constant query counts."""

from __future__ import annotations

import pytest
from django.http import Http404

from projects import selectors, services
from tests.factories import make_image_bytes, make_project, make_tag

pytestmark = pytest.mark.django_db


@pytest.fixture
def tagged_project(owner):
    """a: 2 images, b: 1 image (shared with a), 2 untagged: 5 images in all."""
    project = make_project(owner)
    a, b = make_tag(project, "a"), make_tag(project, "B")
    images = [
        services.image_upload(project=project, data=make_image_bytes(color=(i, 9, 9))).image for i in range(5)
    ]
    services.images_tag(project=project, image_ids=[images[0].id, images[1].id], tag_ids=[a.id])
    services.images_tag(project=project, image_ids=[images[1].id], tag_ids=[b.id])
    return project, a, b, images


def test_project_list_for_only_own_with_counts_and_cover(owner, stranger, tagged_project):
    project, *_, images = tagged_project
    empty = make_project(owner, name="Empty")
    make_project(stranger, name="Theirs")
    listed = {p.name: p for p in selectors.project_list_for(user=owner)}
    assert set(listed) == {"Trees", "Empty"}
    assert listed["Trees"].image_count == 5 and listed["Empty"].image_count == 0
    assert listed["Trees"].cover_image_id == images[-1].id and listed["Empty"].cover_image_id is None
    assert empty.pk in {p.pk for p in selectors.project_list_for(user=owner)}


def test_project_get_for_is_404_for_strangers_and_bad_ids(owner, stranger):
    project = make_project(owner)
    assert selectors.project_get_for(user=owner, project_id=project.id) == project
    assert selectors.project_get_for(user=owner, project_id=str(project.id)) == project
    for user, pid in ((stranger, project.id), (owner, "nope"), (owner, "00000000-0000-0000-0000-000000000000")):
        with pytest.raises(Http404):
            selectors.project_get_for(user=user, project_id=pid)


def test_tag_list_counts_and_case_insensitive_order(tagged_project):
    project, *_ = tagged_project
    assert [(t.name, t.image_count) for t in selectors.tag_list(project=project)] == [("a", 2), ("B", 1)]


def test_image_list_filters(tagged_project):
    project, a, b, images = tagged_project

    def ids(**kw):
        return [i.id for i in selectors.image_list(project=project, **kw)]

    assert ids() == [i.id for i in reversed(images)]  # newest first
    assert ids(order="oldest") == [i.id for i in images]
    assert set(ids(tagged=True)) == {images[0].id, images[1].id}
    assert set(ids(tagged=False)) == {i.id for i in images[2:]}
    assert ids(tag_ids=[b.id]) == [images[1].id]
    assert sorted(ids(tag_ids=[a.id, b.id])) == sorted([images[0].id, images[1].id])  # any of them, no duplicates
    assert selectors.image_counts(project=project) == {"all": 5, "tagged": 2, "untagged": 3}


def test_image_list_page_query_count_is_constant(tagged_project, django_assert_num_queries):
    project, *_ = tagged_project
    with django_assert_num_queries(2):  # images + prefetched tags
        page = list(selectors.image_list(project=project)[:5])
        assert sorted(t.name for i in page for t in i.tags.all()) == ["B", "a", "a"]


def test_image_get_for_is_404_for_strangers(owner, stranger, tagged_project):
    *_, images = tagged_project
    assert selectors.image_get_for(user=owner, image_id=images[0].id) == images[0]
    with pytest.raises(Http404):
        selectors.image_get_for(user=stranger, image_id=images[0].id)
    with pytest.raises(Http404):
        selectors.image_get_for(user=owner, image_id="bad")


def test_image_neighbors_follow_the_newest_first_grid(tagged_project):
    *_, images = tagged_project  # images[4] is the newest, first in the grid
    assert selectors.image_neighbors(image=images[4]) == (None, images[3].id)
    assert selectors.image_neighbors(image=images[2]) == (images[3].id, images[1].id)
    assert selectors.image_neighbors(image=images[0]) == (images[1].id, None)
