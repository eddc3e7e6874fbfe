"""Services: projects, tags, and image_upload's checks, renditions and all-or-nothing writes."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.storage import FileSystemStorage, default_storage
from PIL import Image as PILImage

from projects import errors, services
from projects.domains import DEFAULT_DETECTION_DOMAIN, DOMAINS
from projects.models import Image, Project, Tag
from tests.factories import DATASETS, make_image_bytes, make_project, make_tag

pytestmark = pytest.mark.django_db

REAL_JPEG = DATASETS / "azure-quickstart" / "detection" / "fork" / "fork_1.jpg"


def media_files() -> list[Path]:
    root = Path(settings.MEDIA_ROOT)
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def upload(project, data, **kw):
    return services.image_upload(project=project, data=data, **kw)


# -------------------------------------------------------------------------------------------- projects


def test_project_create_defaults_to_general_classification(owner):
    project = services.project_create(created_by=owner, name="  Trees ")
    assert project.name == "Trees"
    assert project.project_type == "classification"
    assert project.classification_type == "Multiclass"
    assert project.domain.name == "General" and project.domain.type == "Classification"


def test_project_create_detection_gets_a_detection_domain(owner):
    project = services.project_create(created_by=owner, name="Forks", project_type="detection")
    assert project.domain_id == DEFAULT_DETECTION_DOMAIN
    logo = next(d for d in DOMAINS if d.name == "Logo")
    assert services.project_create(created_by=owner, name="L", domain_id=str(logo.id)).project_type == "detection"


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"name": ""}, errors.ProjectNameInvalid),
        ({"name": "x", "domain_id": "00000000-0000-0000-0000-000000000000"}, errors.UnknownDomain),
        ({"name": "x", "domain_id": "not-a-uuid"}, errors.UnknownDomain),
        ({"name": "x", "project_type": "detection", "domain_id": str(DOMAINS[0].id)}, errors.UnknownDomain),
        ({"name": "x", "classification_type": "Multiway"}, errors.UnknownClassificationType),
    ],
)
def test_project_create_rejects_bad_input(owner, kwargs, error):
    with pytest.raises(error) as info:
        services.project_create(created_by=owner, **kwargs)
    assert info.value.code.startswith("BadRequest") and info.value.status == 400


def test_project_update_changes_fields_and_type_with_domain(owner):
    project = services.project_create(created_by=owner, name="A")
    services.project_update(project=project, name="B", description="d", classification_type="Multilabel")
    project.refresh_from_db()
    assert (project.name, project.description, project.is_multilabel) == ("B", "d", True)
    services.project_update(project=project, domain_id=DEFAULT_DETECTION_DOMAIN)
    assert Project.objects.get(pk=project.pk).is_detection
    with pytest.raises(TypeError):
        services.project_update(project=project, owner=None)


def test_project_delete_removes_rows_and_media(owner, django_capture_on_commit_callbacks):
    project = make_project(owner)
    other = make_project(owner, name="Other")
    assert upload(project, make_image_bytes()).status == "OK"
    assert upload(other, make_image_bytes()).status == "OK"
    with django_capture_on_commit_callbacks(execute=True):
        services.project_delete(project=project)
    assert not Project.objects.filter(pk=project.pk).exists()
    assert Image.objects.count() == 1
    assert all(str(other.id) in str(p) for p in media_files())
    assert len(media_files()) == 2  # the other project's original + thumbnail


# -------------------------------------------------------------------------------------------- tags


def test_tag_names_are_unique_per_project_ignoring_case(owner):
    project = make_project(owner)
    services.tag_create(project=project, name="Hemlock")
    with pytest.raises(errors.TagNameNotUnique) as info:
        services.tag_create(project=project, name="hemLOCK ")
    assert info.value.code == "BadRequestTagNameNotUnique"
    services.tag_create(project=make_project(owner, name="Other"), name="hemlock")  # other project: fine
    with pytest.raises(errors.TagNameInvalid):
        services.tag_create(project=project, name="  ")


def test_negative_tag_only_in_classification_and_only_one(owner):
    project = make_project(owner)
    services.tag_create(project=project, name="Negative", type="Negative")
    with pytest.raises(errors.TagTypeInvalid):
        services.tag_create(project=project, name="Negative 2", type="Negative")
    detection = services.project_create(created_by=owner, name="D", project_type="detection")
    with pytest.raises(errors.TagTypeInvalid):
        services.tag_create(project=detection, name="Negative", type="Negative")


def test_tag_rename_and_delete(owner):
    project = make_project(owner)
    a = services.tag_create(project=project, name="A")
    services.tag_create(project=project, name="B")
    with pytest.raises(errors.TagNameNotUnique):
        services.tag_update(tag=a, name="b")
    services.tag_update(tag=a, name="a")  # same tag, new case: fine
    assert Tag.objects.get(pk=a.pk).name == "a"
    result = upload(project, make_image_bytes(), tags=[a])
    services.tag_delete(tag=a)
    assert result.image.tags.count() == 0 and Image.objects.count() == 1


# -------------------------------------------------------------------------------------------- accepted images


@pytest.mark.parametrize(
    ("fmt", "content_type"),
    [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("BMP", "image/bmp"), ("GIF", "image/gif"), ("WEBP", "image/webp")],
)
def test_accepted_formats_store_original_thumbnail_and_display(owner, fmt, content_type):
    project = make_project(owner)
    data = make_image_bytes((300, 200), fmt=fmt)
    result = upload(project, data, filename=f"x.{fmt.lower()}")
    assert result.status == "OK", result.message
    image = result.image
    assert (image.width, image.height, image.content_type) == (300, 200, content_type)
    assert image.file.read() == data  # not rotated: the very bytes uploaded
    with PILImage.open(image.thumbnail) as thumb:
        assert thumb.size == (256, 171)
    with PILImage.open(image.display) as display:
        assert display.size == (300, 200)


def test_gif_first_frame_is_used(owner):
    frames = [PILImage.new("RGB", (40, 40), c) for c in ((255, 0, 0), (0, 0, 255))]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:])
    result = upload(make_project(owner), buf.getvalue())
    assert result.status == "OK"
    with PILImage.open(result.image.thumbnail) as thumb:
        r, g, b = thumb.convert("RGB").getpixel((20, 20))
    assert r > 200 and b < 60


def test_small_image_is_accepted(owner):
    result = upload(make_project(owner), make_image_bytes((25, 25), fmt="JPEG"))
    assert result.status == "OK" and (result.image.width, result.image.height) == (25, 25)


def test_real_photo_is_accepted_and_kept_byte_for_byte(owner):
    data = REAL_JPEG.read_bytes()
    result = upload(make_project(owner), data, filename=REAL_JPEG.name)
    assert result.status == "OK"
    assert result.image.file.read() == data and result.image.original_name == REAL_JPEG.name
    assert result.image.display.name == result.image.file.name  # small enough to be its own display rendition


def test_large_image_gets_a_display_rendition(owner):
    result = upload(make_project(owner), make_image_bytes((2400, 1200), fmt="JPEG"))
    with PILImage.open(result.image.display) as display:
        assert display.size == (settings.TAGSIGHT_DISPLAY_SIZE, settings.TAGSIGHT_DISPLAY_SIZE // 2)
    with PILImage.open(result.image.thumbnail) as thumb:
        assert thumb.size == (256, 128)
    assert (result.image.width, result.image.height) == (2400, 1200)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_exif_orientation_is_applied_to_the_stored_original(owner, fmt):
    img = PILImage.new("RGB", (60, 40), (0, 128, 0))
    img.paste((255, 0, 0), (0, 0, 10, 10))  # a red corner, top-left as stored
    exif = PILImage.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    buf = io.BytesIO()
    img.save(buf, format=fmt, exif=exif, **({"quality": 95} if fmt != "PNG" else {}))
    result = upload(make_project(owner), buf.getvalue())
    assert result.status == "OK", result.message
    assert (result.image.width, result.image.height) == (40, 60)
    with PILImage.open(result.image.file) as stored:
        assert stored.size == (40, 60)
        assert stored.getexif().get(0x0112, 1) == 1
        r, g, _ = stored.convert("RGB").getpixel((37, 2))  # the red corner is now top-right
        assert r > 200 and g < 80


def test_duplicate_in_project_is_reported_not_stored(owner):
    project = make_project(owner)
    first = upload(project, make_image_bytes())
    files = media_files()
    second = upload(project, make_image_bytes(), filename="again.png")
    assert second.status == "OKDuplicate" and second.image == first.image
    assert Image.objects.count() == 1 and media_files() == files
    assert upload(make_project(owner, name="Other"), make_image_bytes()).status == "OK"  # per project


def test_tags_and_regions_are_applied(owner):
    project = services.project_create(created_by=owner, name="D", project_type="detection")
    fork = make_tag(project, "fork")
    knife = make_tag(project, "knife")
    result = upload(
        project,
        make_image_bytes(),
        tags=[knife.id],
        regions=[{"tag": str(fork.id), "left": 0.1, "top": 0.2, "width": 0.5, "height": 0.5}],
    )
    assert result.status == "OK"
    assert set(result.image.tags.values_list("name", flat=True)) == {"fork", "knife"}
    region = result.image.regions.get()
    assert (region.tag_id, region.left, region.top, region.width, region.height) == (fork.id, 0.1, 0.2, 0.5, 0.5)


def test_upload_regions_obey_the_labelers_rules(owner, stranger):
    """One validator: the box, tag and count rules of labeling.services.region_create, with the same messages."""
    from labeling import services as labeling
    from labeling.errors import LabelingError

    project = services.project_create(created_by=owner, name="D", project_type="detection")
    fork = make_tag(project, "fork")
    image = upload(project, make_image_bytes(color=(1, 2, 3))).image
    box = {"left": 0.8, "top": 0.1, "width": 0.5, "height": 0.2}
    with pytest.raises(LabelingError) as refused:
        labeling.region_create(image=image, tag=fork, **box)
    result = upload(project, make_image_bytes(), regions=[{"tag": fork.id, **box}])
    assert result.status == "ErrorUnknown" and result.message == refused.value.message
    many = [{"tag": fork.id, "left": 0.001 * i, "top": 0.1, "width": 0.1, "height": 0.1} for i in range(301)]
    assert upload(project, make_image_bytes(), regions=many).status == "ErrorRegionLimitExceed"
    foreign = make_tag(make_project(stranger), "theirs")
    assert upload(project, make_image_bytes(), regions=[{**box, "left": 0.1, "tag": foreign.id}]).status == (
        "ErrorInvalidTag"
    )
    assert Image.objects.count() == 1 and not image.regions.exists()


def test_upload_regions_just_past_the_edge_are_clipped_like_the_labelers(owner):
    project = services.project_create(created_by=owner, name="D", project_type="detection")
    fork = make_tag(project, "fork")
    result = upload(project, make_image_bytes(), regions=[{"tag": fork.id, "left": 0.6, "top": -0.0004,
                                                           "width": 0.4004, "height": 0.5}])
    assert result.status == "OK"
    region = result.image.regions.get()
    assert (region.left, region.top, region.width) == (0.6, 0.0, pytest.approx(0.4))
    assert region.height == pytest.approx(0.4996) and region.left + region.width <= 1.0


def test_negative_tag_never_goes_with_regions_on_upload(owner):
    project = make_project(owner)  # classification: the only kind with a Negative tag
    negative = make_tag(project, "Negative", type="Negative")
    mine = make_tag(project, "mine")
    box = {"left": 0.1, "top": 0.1, "width": 0.5, "height": 0.5}
    on_region = upload(project, make_image_bytes(), regions=[{"tag": negative.id, **box}])
    assert on_region.status == "ErrorUnknown" and "Negative" in on_region.message
    beside = upload(project, make_image_bytes(), tags=[negative], regions=[{"tag": mine.id, **box}])
    assert beside.status == "ErrorNegativeAndRegularTagOnSameImage"
    assert Image.objects.count() == 0 and media_files() == []


def test_foreign_tag_and_bad_regions_are_refused_before_anything_is_written(owner, stranger):
    project = make_project(owner)
    foreign = make_tag(make_project(stranger), "theirs")
    mine = make_tag(project, "mine")
    assert upload(project, make_image_bytes(), tags=[foreign]).status == "ErrorInvalidTag"
    bad = {"tag": mine.id, "left": 0.8, "top": 0.1, "width": 0.5, "height": 0.2}
    assert upload(project, make_image_bytes(), regions=[bad]).status == "ErrorUnknown"
    negative = make_tag(project, "Negative", type="Negative")
    assert upload(project, make_image_bytes(), tags=[mine, negative]).status == "ErrorNegativeAndRegularTagOnSameImage"
    assert Image.objects.count() == 0 and media_files() == []


# -------------------------------------------------------------------------------------------- rejected images


def _truncated_jpeg() -> bytes:
    data = make_image_bytes((400, 300), fmt="JPEG")
    return data[: len(data) // 2]


def _truncated_png() -> bytes:
    img = PILImage.effect_noise((300, 300), 64).convert("RGB")
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()[:-2000]


def _tiff() -> bytes:
    return make_image_bytes(fmt="TIFF")


def _corrupt_jpeg() -> bytes:
    data = bytearray(REAL_JPEG.read_bytes())
    data[600:4000] = b"\xff" * 3400
    return bytes(data)


@pytest.mark.parametrize(
    ("make", "status"),
    [
        (lambda: b"", "ErrorImageFormat"),
        (lambda: b"hello, I am a text file\n" * 20, "ErrorImageFormat"),
        (_tiff, "ErrorImageFormat"),
        (lambda: b"%PDF-1.4\n" + b"0" * 100, "ErrorImageFormat"),
        (_truncated_jpeg, "ErrorImageFormat"),
        (_truncated_png, "ErrorImageFormat"),
        (_corrupt_jpeg, "ErrorImageFormat"),
        (lambda: make_image_bytes(fmt="JPEG")[:200], "ErrorImageFormat"),
    ],
    ids=["zero-byte", "text", "tiff", "pdf", "truncated-jpeg", "truncated-png", "corrupt-jpeg", "header-only"],
)
def test_bad_files_are_rejected_with_a_reason(owner, make, status):
    result = upload(make_project(owner), make())
    assert result.status == status and result.image is None and result.message
    assert Image.objects.count() == 0 and media_files() == []


def test_file_over_the_byte_limit_is_rejected(owner, settings):
    data = make_image_bytes((300, 300), fmt="BMP")
    settings.TAGSIGHT_MAX_IMAGE_BYTES = len(data) - 1
    result = upload(make_project(owner), data)
    assert result.status == "ErrorImageSize" and "larger than" in result.message


def test_side_over_the_limit_is_rejected(owner, settings):
    settings.TAGSIGHT_MAX_IMAGE_SIDE = 100
    result = upload(make_project(owner), make_image_bytes((101, 20)))
    assert result.status == "ErrorImageDimensions" and "100 px" in result.message
    assert upload(make_project(owner, name="B"), make_image_bytes((100, 20))).status == "OK"


def test_default_side_limit_is_10240(owner):
    # A PNG of 10241 x 1 px is tiny on disk; its header is enough to reject it.
    buf = io.BytesIO()
    PILImage.new("1", (10241, 1)).save(buf, format="PNG")
    assert upload(make_project(owner), buf.getvalue()).status == "ErrorImageDimensions"


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize("factor", [1.5, 3])  # over the limit: Pillow warns; over twice: it raises
def test_decompression_bombs_are_rejected(owner, monkeypatch, factor):
    monkeypatch.setattr(PILImage, "MAX_IMAGE_PIXELS", int(100 * 100 / factor))
    result = upload(make_project(owner), make_image_bytes((100, 100)))
    assert result.status == "ErrorImageDimensions" and "bomb" in result.message
    assert media_files() == []


# -------------------------------------------------------------------------------------------- atomicity


class FailingStorage(FileSystemStorage):
    """Real disk storage that fails on the thumbnail, after the original is already written."""

    def _save(self, name, content):
        if name.endswith("thumbnail.jpg"):
            raise OSError("disk full")
        return super()._save(name, content)


def test_storage_failure_writes_nothing(owner, settings):
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": f"{__name__}.FailingStorage"}}
    result = upload(make_project(owner), make_image_bytes())
    assert result.status == "ErrorStorage" and result.image is None
    assert type(default_storage._wrapped) is FailingStorage
    assert Image.objects.count() == 0 and media_files() == []


# -------------------------------------------------------------------------------------------- bulk image operations


def test_untagging_an_image_drops_its_regions_of_that_tag_only(owner):
    project = services.project_create(created_by=owner, name="D", project_type="detection")
    fork, knife = make_tag(project, "fork"), make_tag(project, "knife")
    box = {"left": 0.1, "top": 0.1, "width": 0.3, "height": 0.3}
    image = upload(project, make_image_bytes(), regions=[{"tag": fork.id, **box}, {"tag": knife.id, **box}]).image
    assert services.images_untag(project=project, image_ids=[image.id], tag_ids=[fork.id]) == 1
    assert [r.tag_id for r in image.regions.all()] == [knife.id] and list(image.tags.all()) == [knife]


def test_images_tag_untag_and_delete(owner, django_capture_on_commit_callbacks):
    project = make_project(owner)
    a, b = make_tag(project, "a"), make_tag(project, "b")
    images = [upload(project, make_image_bytes(color=(i, 0, 0))).image for i in range(3)]
    ids = [i.id for i in images]
    assert services.images_tag(project=project, image_ids=ids, tag_ids=[a.id, b.id]) == 6
    assert services.images_tag(project=project, image_ids=ids, tag_ids=[a.id]) == 0  # idempotent
    assert services.images_untag(project=project, image_ids=ids[:2], tag_ids=[b.id]) == 2
    assert list(images[2].tags.order_by("name").values_list("name", flat=True)) == ["a", "b"]
    with django_capture_on_commit_callbacks(execute=True):
        assert services.images_delete(project=project, image_ids=ids[:2]) == 2
    assert Image.objects.count() == 1
    assert len(media_files()) == 2 and all(str(ids[2]) in str(p) for p in media_files())


def test_images_bulk_operations_refuse_foreign_ids(owner, stranger):
    project = make_project(owner)
    image = upload(project, make_image_bytes()).image
    theirs = make_project(stranger)
    their_tag = make_tag(theirs)
    their_image = upload(theirs, make_image_bytes()).image
    with pytest.raises(errors.InvalidIds):
        services.images_tag(project=project, image_ids=[image.id], tag_ids=[their_tag.id])
    with pytest.raises(errors.InvalidIds):
        services.images_tag(project=project, image_ids=[their_image.id], tag_ids=[])
    assert services.images_delete(project=project, image_ids=[their_image.id]) == 0
    assert Image.objects.filter(pk=their_image.pk).exists()


def test_negative_tag_cannot_join_regular_tags(owner):
    project = make_project(owner)
    regular, negative = make_tag(project, "r"), make_tag(project, "Negative", type="Negative")
    image = upload(project, make_image_bytes(), tags=[regular]).image
    with pytest.raises(errors.NegativeAndRegularTagOnSameImage):
        services.images_tag(project=project, image_ids=[image.id], tag_ids=[negative.id])


@pytest.mark.parametrize(
    ("mode", "fmt"),
    [("CMYK", "JPEG"), ("L", "JPEG"), ("I;16", "PNG"), ("LA", "PNG"), ("RGBA", "WEBP"), ("P", "GIF"), ("1", "BMP")],
)
def test_unusual_pixel_modes_get_rgb_renditions(owner, mode, fmt):
    img = PILImage.new("RGB", (300, 120), (10, 200, 30)).convert(mode)
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    result = upload(make_project(owner), buf.getvalue())
    assert result.status == "OK", result.message
    with PILImage.open(result.image.thumbnail) as thumb:
        assert thumb.mode == "RGB" and thumb.size == (256, 102)
