"""Views: full pages and htmx fragments, the upload endpoint, media behind the login (strangers: test_strangers.py)."""

from __future__ import annotations

import re

import pytest
from django.core.files.storage import InMemoryStorage
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from projects import errors, services
from projects.domains import DEFAULT_DETECTION_DOMAIN as DETECTION_DOMAIN
from projects.models import Image, Project, Tag
from tests.factories import DATASETS, make_image_bytes, make_project, make_tag

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def project(owner):
    return make_project(owner)


@pytest.fixture
def tag(project):
    return make_tag(project, "Hemlock")


@pytest.fixture
def image(project, tag):
    return services.image_upload(project=project, data=make_image_bytes(), filename="tree.png", tags=[tag]).image


def upload_file(client, project, data, name="x.jpg", tags=(), json=True):
    from django.core.files.uploadedfile import SimpleUploadedFile

    headers = {"HTTP_ACCEPT": "application/json"} if json else {}
    return client.post(
        reverse("projects:image-upload", args=[project.id]),
        {"file": SimpleUploadedFile(name, data), "tags": [str(t.id) for t in tags]},
        **headers,
    )


def test_unknown_ids_are_404(owner_client, project):
    assert owner_client.get("/projects/00000000-0000-0000-0000-000000000000/").status_code == 404
    assert owner_client.get("/images/00000000-0000-0000-0000-000000000000/").status_code == 404
    assert owner_client.get(f"/projects/{project.id}/tags/00000000-0000-0000-0000-000000000000/edit").status_code == 404


# -------------------------------------------------------------------------------------------- projects


def test_project_list_shows_only_own_tiles_with_counts(owner_client, stranger, project, image):
    make_project(stranger, name="Secret stranger project")
    page = owner_client.get("/").content.decode()
    assert "Trees" in page and "1 image" in page and "Secret stranger project" not in page
    assert reverse("projects:image-file", args=[image.id, "thumbnail"]) in page


def test_project_create_form_and_domains_filtered_by_type(owner_client, owner):
    page = owner_client.get(reverse("projects:project-create")).content.decode()
    assert "Food" in page and "Logo" in page and "only-detection" in page
    response = owner_client.post(
        reverse("projects:project-create"),
        {"name": "Forks", "description": "cutlery", "project_type": "detection",
         "domain_detection": "1d8ffafe-ec40-4fb2-8f90-72b3b6cecea4",  # Logo
         "domain_classification": "c151d5b5-dd07-472a-acc8-15d29dea8518"},  # ignored: wrong type
    )
    project = Project.objects.get(created_by=owner, name="Forks")
    assert response.status_code == 302 and response["Location"] == reverse("projects:project-detail", args=[project.id])
    assert project.is_detection and project.domain.name == "Logo" and project.description == "cutlery"


def test_project_form_says_what_each_domain_trains_as_get_domains_does(owner_client):
    from django.utils.html import escape

    from projects.domains import DOMAINS

    page = owner_client.get(reverse("projects:project-create")).content.decode()
    for domain in DOMAINS:
        assert escape(domain.description) in page, domain.name


def test_project_create_with_errors_rerenders_the_form(owner_client):
    response = owner_client.post(reverse("projects:project-create"), {"name": "", "project_type": "classification"})
    assert response.status_code == 200 and "This field is required" in response.content.decode()
    assert Project.objects.count() == 0


def test_project_edit(owner_client, project):
    page = owner_client.get(reverse("projects:project-edit", args=[project.id])).content.decode()
    assert 'value="Trees"' in page
    response = owner_client.post(
        reverse("projects:project-edit", args=[project.id]),
        {"name": "Conifers", "project_type": "classification", "classification_type": "Multilabel",
         "domain_classification": "c151d5b5-dd07-472a-acc8-15d29dea8518"},
    )
    assert response.status_code == 302
    project.refresh_from_db()
    assert (project.name, project.classification_type, project.domain.name) == ("Conifers", "Multilabel", "Food")


def test_max_detections_is_a_detection_setting_from_1_to_300(owner_client, owner):
    project = make_project(owner, project_type="detection", domain_id=DETECTION_DOMAIN)
    url = reverse("projects:project-edit", args=[project.id])
    assert 'name="max_detections" value="100"' in owner_client.get(url).content.decode()  # the default
    form = {"name": "Forks", "project_type": "detection", "domain_detection": str(DETECTION_DOMAIN)}
    for bad in ("0", "301", "2.5", "many"):
        page = owner_client.post(url, {**form, "max_detections": bad})
        assert page.status_code == 200
        assert "Max detections must be a whole number from 1 to 300." in page.content.decode(), bad
        project.refresh_from_db()
        assert (project.name, project.max_detections) == ("Trees", 100)  # nothing saved
    assert owner_client.post(url, {**form, "max_detections": "25"}).status_code == 302
    project.refresh_from_db()
    assert (project.name, project.max_detections) == ("Forks", 25)
    assert owner_client.post(url, {**form, "max_detections": ""}).status_code == 302  # blank: left as it is
    project.refresh_from_db()
    assert project.max_detections == 25
    with pytest.raises(errors.MaxDetectionsInvalid):  # the service checks it too (the API, imports)
        services.project_update(project=project, max_detections=301)


def test_project_delete_confirms_then_deletes_with_media(
    owner_client, project, image, settings, django_capture_on_commit_callbacks
):
    from pathlib import Path

    page = owner_client.get(reverse("projects:project-delete", args=[project.id])).content.decode()
    assert "Delete project?" in page and "1 image" in page
    assert any(Path(settings.MEDIA_ROOT).rglob("*.png"))
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(reverse("projects:project-delete", args=[project.id]))
    assert response.status_code == 302 and not Project.objects.exists()
    assert not [p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file()]


# -------------------------------------------------------------------------------------------- training images


def test_project_page_full_and_htmx_fragment(owner_client, project, image):
    url = reverse("projects:project-detail", args=[project.id])
    full = owner_client.get(url).content.decode()
    assert "<html" in full and 'id="workspace"' in full and "Hemlock" in full and str(image.id) in full
    assert "Quick Test" in full and "Train" in full
    fragment = owner_client.get(url, **HX).content.decode()
    assert "<html" not in fragment and fragment.lstrip().startswith('<div id="workspace"')


def test_filters_tagged_untagged_and_tags(owner_client, project, tag, image):
    untagged = services.image_upload(project=project, data=make_image_bytes(color=(1, 2, 3))).image
    other = make_tag(project, "Cherry")
    cherry = services.image_upload(project=project, data=make_image_bytes(color=(4, 5, 6)), tags=[other]).image
    url = reverse("projects:project-detail", args=[project.id])

    def shown(**params):
        body = owner_client.get(url, params, **HX).content.decode()
        return {i for i in (image, untagged, cherry) if f'data-image-id="{i.id}"' in body}

    assert shown() == {image, untagged, cherry}
    assert shown(filter="tagged") == {image, cherry}
    assert shown(filter="untagged") == {untagged}
    assert shown(tag=str(tag.id)) == {image}
    assert shown(tag=[str(tag.id), str(other.id)]) == {image, cherry}
    assert shown(tag="not-a-uuid", filter="bogus") == {image, untagged, cherry}  # bad filters are ignored


def test_grid_pages_and_infinite_scroll_fragment(owner_client, project, settings):
    settings.TAGSIGHT_PAGE_SIZE = 2
    images = [services.image_upload(project=project, data=make_image_bytes(color=(i, 0, 0))).image for i in range(5)]
    url = reverse("projects:project-detail", args=[project.id])
    first = owner_client.get(url).content.decode()
    assert first.count('class="thumb"') == 2 and "page=2" in first and 'hx-trigger="revealed"' in first
    third = owner_client.get(url, {"page": 3}, **HX).content.decode()
    assert third.count('class="thumb"') == 1 and 'id="workspace"' not in third and "revealed" not in third
    assert f'data-image-id="{images[0].id}"' in third  # the oldest comes last


def test_grid_query_count_does_not_grow_with_the_project(owner_client, project, tag):
    url = reverse("projects:project-detail", args=[project.id])

    def count_queries():
        with CaptureQueriesContext(connection) as ctx:
            assert owner_client.get(url).status_code == 200
        return len(ctx.captured_queries)

    services.image_upload(project=project, data=make_image_bytes(color=(9, 9, 9)), tags=[tag])
    few = count_queries()
    for i in range(12):
        services.image_upload(project=project, data=make_image_bytes(color=(i, 1, 1)), tags=[tag])
    make_tag(project, "Another")
    assert count_queries() == few


def test_images_action_tag_untag_delete(owner_client, project, tag, image):
    other = make_tag(project, "Cherry")
    url = reverse("projects:images-action", args=[project.id])
    data = {"action": "tag", "image_ids": [image.id], "tag_ids": [other.id]}
    response = owner_client.post(url + "?filter=all", data, **HX)
    assert response.status_code == 200 and 'id="workspace"' in response.content.decode()
    # Multiclass: the new tag replaces the image's tag (issue #11 item 4); multilabel: it is added.
    assert set(image.tags.values_list("name", flat=True)) == {"Cherry"}
    project.classification_type = "Multilabel"
    project.save()
    owner_client.post(url, {"action": "tag", "image_ids": [image.id], "tag_ids": [tag.id]}, **HX)
    assert set(image.tags.values_list("name", flat=True)) == {"Hemlock", "Cherry"}
    owner_client.post(url, {"action": "untag", "image_ids": [image.id], "tag_ids": [tag.id]}, **HX)
    assert list(image.tags.values_list("name", flat=True)) == ["Cherry"]
    response = owner_client.post(url, {"action": "delete", "image_ids": [image.id]})
    assert response.status_code == 302 and not Image.objects.exists()


def test_images_action_needs_a_tag_and_selection(owner_client, project, image):
    url = reverse("projects:images-action", args=[project.id])
    assert owner_client.post(url, {"action": "tag", "image_ids": [image.id]}, **HX).status_code == 200
    assert owner_client.post(url, {"action": "delete"}, **HX).status_code == 200
    assert Image.objects.count() == 1


# -------------------------------------------------------------------------------------------- tags


def test_tag_create_rename_delete_with_htmx(owner_client, project, tag, image):
    create = reverse("projects:tag-create", args=[project.id])
    body = owner_client.post(create, {"name": "Cherry"}, **HX).content.decode()
    assert "Cherry" in body and 'id="workspace"' in body
    body = owner_client.post(create, {"name": "cherry"}, **HX).content.decode()
    assert Tag.objects.filter(project=project).count() == 2
    rename_form = owner_client.get(reverse("projects:tag-edit", args=[project.id, tag.id]), **HX).content.decode()
    assert rename_form.lstrip().startswith("<li") and 'value="Hemlock"' in rename_form
    owner_client.post(reverse("projects:tag-edit", args=[project.id, tag.id]), {"name": "Western hemlock"}, **HX)
    tag.refresh_from_db()
    assert tag.name == "Western hemlock"
    body = owner_client.post(reverse("projects:tag-delete", args=[project.id, tag.id]), **HX).content.decode()
    assert "Western hemlock" not in body.split('class="grid-area"')[0]
    assert not Tag.objects.filter(pk=tag.pk).exists() and Image.objects.filter(pk=image.pk).exists()


def test_tag_create_from_the_upload_picker_comes_back_checked(owner_client, project, tag):
    body = owner_client.post(
        reverse("projects:tag-create", args=[project.id]), {"name": "Cherry", "picker": "1", "tags": [tag.id]}, **HX
    ).content.decode()
    cherry = Tag.objects.get(name="Cherry")
    assert body.lstrip().startswith('<fieldset id="tag-picker"')
    assert f'value="{cherry.id}" checked' in body and f'value="{tag.id}" checked' in body


TOO_LONG = "Tag names can be at most 200 characters; this one has 300."


def test_a_tag_name_over_200_characters_is_refused_with_a_clear_message(owner_client, project, tag):
    name = "x" * 300
    body = owner_client.post(reverse("projects:tag-create", args=[project.id]), {"name": name}, **HX).content.decode()
    assert TOO_LONG in body and not Tag.objects.filter(name__startswith="xxx").exists()
    picker = owner_client.post(reverse("projects:tag-create", args=[project.id]), {"name": name, "picker": "1"}, **HX)
    assert TOO_LONG in picker.content.decode()
    rename = owner_client.post(reverse("projects:tag-edit", args=[project.id, tag.id]), {"name": name}, **HX)
    assert TOO_LONG in rename.content.decode()
    tag.refresh_from_db()
    assert tag.name == "Hemlock"


def test_tag_rename_page_without_htmx(owner_client, project, tag):
    page = owner_client.get(reverse("projects:tag-edit", args=[project.id, tag.id])).content.decode()
    assert "<html" in page and "Rename tag" in page


# -------------------------------------------------------------------------------------------- upload


def test_upload_page(owner_client, project, tag):
    page = owner_client.get(reverse("projects:image-upload", args=[project.id]), {"tag": str(tag.id)}).content.decode()
    assert "data-uploader" in page and "Drop images here" in page and f'value="{tag.id}" checked' in page
    assert "js/upload.js" in page


def test_upload_endpoint_reports_each_outcome_as_json(owner_client, project, tag):
    photo = (DATASETS / "azure-quickstart" / "detection" / "scissors" / "scissors_1.jpg").read_bytes()
    stored = upload_file(owner_client, project, photo, "bee.jpg", tags=[tag])
    assert stored.status_code == 201 and stored.json()["status"] == "OK"
    image = Image.objects.get()
    assert stored.json()["image_id"] == str(image.id) and list(image.tags.all()) == [tag]
    duplicate = upload_file(owner_client, project, photo, "again.jpg")
    assert duplicate.status_code == 200 and duplicate.json()["status"] == "OKDuplicate"
    rejected = upload_file(owner_client, project, b"not an image", "notes.txt")
    assert rejected.status_code == 400 and rejected.json()["status"] == "ErrorImageFormat"
    assert rejected.json()["message"]
    assert Image.objects.count() == 1


def test_upload_batch_without_javascript_stores_the_good_and_reports_the_rest(owner_client, project):
    from django.core.files.uploadedfile import SimpleUploadedFile

    files = [SimpleUploadedFile("a.png", make_image_bytes()), SimpleUploadedFile("b.txt", b"text"),
             SimpleUploadedFile("c.gif", make_image_bytes(fmt="GIF", color=(0, 0, 250)))]
    response = owner_client.post(reverse("projects:image-upload", args=[project.id]), {"file": files})
    body = response.content.decode()
    assert response.status_code == 200 and body.count("Stored") == 2 and "Rejected:" in body
    assert Image.objects.count() == 2


def test_upload_with_a_foreign_tag_is_refused(owner_client, project, stranger):
    theirs = make_tag(make_project(stranger), "theirs")
    response = upload_file(owner_client, project, make_image_bytes(), tags=[theirs])
    assert response.status_code == 400 and not Image.objects.exists()


# -------------------------------------------------------------------------------------------- one image and its files


def test_image_detail_page_and_dialog_fragment(owner_client, image):
    url = reverse("projects:image-detail", args=[image.id])
    full = owner_client.get(url).content.decode()
    assert "<html" in full and reverse("projects:image-file", args=[image.id, "display"]) in full
    fragment = owner_client.get(url, **HX).content.decode()
    assert "<html" not in fragment and 'id="image-panel"' in fragment
    chip = r'aria-pressed="true"[^>]*>\s*<svg class="icon icon-check"[^>]*>.*?</svg> <span class="chip-name">Hemlock<'
    assert re.search(chip, fragment)


def test_image_detail_links_to_the_labeler_when_it_exists(owner_client, image):
    from django.urls import NoReverseMatch

    body = owner_client.get(reverse("projects:image-detail", args=[image.id])).content.decode()
    try:
        labeler = reverse("labeling:labeler", args=[image.id])
    except NoReverseMatch:
        assert "open-labeler" not in body
    else:
        assert labeler in body


def test_image_tags_toggle(owner_client, image, tag):
    url = reverse("projects:image-tags", args=[image.id])
    body = owner_client.post(url, {"tag_id": tag.id, "action": "remove"}, **HX).content.decode()
    assert image.tags.count() == 0 and 'id="image-panel"' in body
    assert owner_client.post(url, {"tag_id": tag.id, "action": "add"}).status_code == 302
    assert image.tags.count() == 1


@pytest.mark.parametrize("kind", ["thumbnail", "display", "original"])
def test_image_files_are_served_to_the_owner(owner_client, image, kind):
    response = owner_client.get(reverse("projects:image-file", args=[image.id, kind]))
    assert response.status_code == 200
    body = b"".join(response.streaming_content)
    assert body[:4] in (b"\x89PNG", b"\xff\xd8\xff\xe0", b"\xff\xd8\xff\xdb") and "private" in response["Cache-Control"]
    if kind == "original":
        assert body == image.file.read()


def test_unknown_rendition_is_404(owner_client, image):
    assert owner_client.get(reverse("projects:image-file", args=[image.id, "secret"])).status_code == 404


class UrlStorage(InMemoryStorage):
    """Stands in for S3: not on local disk, and hands out its own (signed, in S3's case) URLs."""

    def url(self, name):
        return f"https://bucket.example/{name}?signature=abc"


def test_remote_storage_media_redirects_to_the_storage_url(owner_client, project, settings):
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": f"{__name__}.UrlStorage"}}
    image = services.image_upload(project=project, data=make_image_bytes()).image
    response = owner_client.get(reverse("projects:image-file", args=[image.id, "thumbnail"]))
    assert response.status_code == 302
    assert response["Location"] == f"https://bucket.example/{image.thumbnail.name}?signature=abc"


def test_project_list_query_count_does_not_grow_with_projects(owner_client, owner):
    def count_queries():
        with CaptureQueriesContext(connection) as ctx:
            assert owner_client.get("/").status_code == 200
        return len(ctx.captured_queries)

    project = make_project(owner)
    services.image_upload(project=project, data=make_image_bytes())
    few = count_queries()
    for i in range(5):
        services.image_upload(project=make_project(owner, name=f"P{i}"), data=make_image_bytes(color=(i, 0, 0)))
    assert count_queries() == few


def test_detection_projects_take_tags_from_regions_not_from_the_grid(owner_client, owner):
    project = services.project_create(created_by=owner, name="Forks", project_type="detection")
    fork = make_tag(project, "fork")
    image = services.image_upload(
        project=project, data=make_image_bytes(),
        regions=[{"tag": fork.id, "left": 0.1, "top": 0.1, "width": 0.5, "height": 0.5}],
    ).image
    grid = owner_client.get(reverse("projects:project-detail", args=[project.id])).content.decode()
    assert 'value="tag"' not in grid and 'value="delete"' in grid and 'value="Negative"' not in grid
    upload_page = owner_client.get(reverse("projects:image-upload", args=[project.id])).content.decode()
    assert 'id="tag-picker"' not in upload_page and "draw a region" in upload_page
    panel = owner_client.get(reverse("projects:image-detail", args=[image.id]), **HX).content.decode()
    assert "fork" in panel and reverse("projects:image-tags", args=[image.id]) not in panel


def test_oversized_upload_is_refused_without_reading_it_whole(owner_client, project, settings):
    settings.TAGSIGHT_MAX_IMAGE_BYTES = 1000
    response = upload_file(owner_client, project, make_image_bytes((200, 200), fmt="BMP"))
    assert response.status_code == 400 and response.json()["status"] == "ErrorImageSize"


def test_htmx_answers_carry_their_messages_out_of_band(owner_client, project, image):
    url = reverse("projects:images-action", args=[project.id])
    body = owner_client.post(url, {"action": "delete", "image_ids": [image.id]}, **HX).content.decode()
    assert 'id="messages"' in body and 'hx-swap-oob="true"' in body and "Deleted 1 image." in body
    full = owner_client.get(reverse("projects:project-detail", args=[project.id])).content.decode()
    assert full.count('id="messages"') == 1 and "hx-swap-oob" not in full
