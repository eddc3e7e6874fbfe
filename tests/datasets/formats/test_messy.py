"""Real-world files are messy: each case gets a clear preview line, and nothing is half-imported."""

from __future__ import annotations

import io
import json

import pytest

from datasets.formats import services
from datasets.formats.dataset import ERROR, WARNING
from labeling.models import Region
from projects.models import Image, Project, Tag
from projects.services import image_upload
from tests.datasets.formats.helpers import exif_jpeg, png, zip_of
from tests.factories import make_project

pytestmark = pytest.mark.django_db


def _detection(owner):
    return make_project(owner, name="Boxes", project_type=Project.ProjectType.DETECTION)


def _plan(project, fmt, files):
    return services.import_plan(project=project, format=fmt, source=io.BytesIO(zip_of(files)))


def _lines(plan, level):
    return [str(p) for p in plan.problems if p.level == level]


def _yolo(labels, names=("cat", "dog"), images=None):
    files = {"data.yaml": "names: [" + ", ".join(names) + "]\ntrain: images/train\nval: images/train\n"}
    for name, data in (images or {"a.png": png(1, (100, 50))}).items():
        files[f"images/train/{name}"] = data
    for name, text in labels.items():
        files[f"labels/train/{name}"] = text
    return files


def test_missing_image_is_a_warning_and_the_rest_imports(owner):
    doc = {"images": [{"id": 1, "file_name": "here.png", "width": 40, "height": 30},
                      {"id": 2, "file_name": "gone.png", "width": 40, "height": 30}],
           "categories": [{"id": 1, "name": "cat"}],
           "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [4, 3, 20, 15]},
                           {"id": 2, "image_id": 2, "category_id": 1, "bbox": [4, 3, 20, 15]}]}
    project = _detection(owner)
    plan = _plan(project, "coco", {"annotations.json": json.dumps(doc), "images/here.png": png(1)})
    assert plan.ok
    assert _lines(plan, WARNING) == [
        "gone.png: is named in the COCO file but is not in the zip; its boxes are skipped."]
    services.import_apply(plan=plan)
    [region] = Region.objects.filter(image__project=project)
    assert (region.left, region.top, region.width, region.height) == (0.1, 0.1, 0.5, 0.5)


def test_unknown_class_is_an_error_and_nothing_is_written(owner):
    project = _detection(owner)
    plan = _plan(project, "yolo", _yolo({"a.txt": "0 0.5 0.5 0.2 0.2\n7 0.5 0.5 0.2 0.2\n"}))
    assert _lines(plan, ERROR) == ["labels/train/a.txt line 2: class 7 is not in data.yaml's names (unknown class)."]
    with pytest.raises(services.ImportFailed):
        services.import_apply(plan=plan)
    assert not Image.objects.filter(project=project).exists() and not Tag.objects.filter(project=project).exists()


def test_coco_unknown_category_is_an_error(owner):
    doc = {"images": [{"id": 1, "file_name": "a.png"}], "categories": [{"id": 1, "name": "cat"}],
           "annotations": [{"id": 9, "image_id": 1, "category_id": 3, "bbox": [1, 1, 5, 5]}]}
    plan = _plan(_detection(owner), "coco", {"annotations.json": json.dumps(doc), "a.png": png(1)})
    assert _lines(plan, ERROR) == [
        "a.png: annotation 9 has category 3, which the file's categories do not define (unknown class)."]


def test_box_past_the_edge_is_clipped_with_a_warning_and_zero_area_skipped(owner):
    project = _detection(owner)
    labels = {"a.txt": "0 0.9 0.5 0.4 0.2\n1 0.5 0.5 0 0.2\n1 1.5 1.5 0.2 0.2\n"}
    plan = _plan(project, "yolo", _yolo(labels))
    assert plan.ok
    assert _lines(plan, WARNING) == [
        "labels/train/a.txt line 1: a 'cat' box runs past the image edge; it is clipped to the image.",
        "labels/train/a.txt line 2: a 'dog' box has zero area (0×0.2); it is skipped.",
        "labels/train/a.txt line 3: a 'dog' box lies outside the image; it is skipped.",
    ]
    services.import_apply(plan=plan)
    [region] = Region.objects.filter(image__project=project)
    assert region.left == pytest.approx(0.7) and region.width == pytest.approx(0.3)
    assert region.top == pytest.approx(0.4) and region.height == pytest.approx(0.2)


def test_duplicates_in_the_zip_merge_and_images_already_there_are_skipped(owner):
    project = make_project(owner, name="Labels", classification_type=Project.ClassificationType.MULTILABEL)
    assert image_upload(project=project, data=png(9), filename="old.png").status == "OK"
    csv = "file,tag\none.png,cat\ncopy of one.png,dog\nold again.png,cat\n"
    plan = _plan(project, "csv", {"annotations.csv": csv, "one.png": png(1), "copy of one.png": png(1),
                                  "old again.png": png(9)})
    assert plan.ok
    assert _lines(plan, WARNING) == [
        "copy of one.png: is the same image as one.png (same bytes); it is imported once, with the tags and boxes "
        "of both.",
        "old again.png: is already in this project (same bytes); it is skipped and keeps its tags and boxes, as an "
        "upload of it would.",
    ]
    services.import_apply(plan=plan)
    new = Image.objects.get(project=project, original_name="one.png")
    assert sorted(t.name for t in new.tags.all()) == ["cat", "dog"]
    assert not Image.objects.get(original_name="old.png").tags.exists()


def test_multiclass_project_refuses_two_tags_on_an_image(owner):
    project = make_project(owner, name="One tag")
    plan = _plan(project, "folders", {"cat/x.png": png(1), "dog/x.png": png(1), "dog/y.png": png(2)})
    assert _lines(plan, ERROR) == ["cat/x.png: has 2 tags (cat, dog); a multiclass project takes one tag per image. "
                                   "Import into a multilabel project, or keep one tag."]


def test_unicode_and_spaced_names_and_a_wrapping_folder(owner):
    project = make_project(owner, name="Names", classification_type=Project.ClassificationType.MULTILABEL)
    plan = _plan(project, "folders", {"export/chat noir/ça va.png": png(1), "export/狗/b c.png": png(2),
                                      "export/notes.txt": "hi"})
    assert plan.ok and plan.new_tags == ["chat noir", "狗"]
    assert _lines(plan, WARNING) == ["export/notes.txt: is not an image (JPEG, PNG, BMP, GIF or WebP); it is skipped."]
    services.import_apply(plan=plan)
    assert set(Image.objects.filter(project=project).values_list("original_name", flat=True)) == {"ça va.png",
                                                                                                  "b c.png"}


def test_wrong_project_type_and_not_a_zip(owner):
    plan = services.import_plan(project=make_project(owner), format="coco", source=io.BytesIO(b"x"))
    assert _lines(plan, ERROR) == ["COCO (JSON) holds boxes: import it into an object detection project (this one "
                                   "is classification)."]
    plan = services.import_plan(project=_detection(owner), format="voc", source=io.BytesIO(b"not a zip"))
    assert _lines(plan, ERROR) == ["The file is not a readable zip archive."]


def test_exif_rotated_jpeg_boxes_match_what_the_user_sees(owner):
    """Stored 40×20 pixels, EXIF 6 (shown turned clockwise, 20×40). YOLO's normalised boxes are in the shown frame;
    a COCO file that declares the stored 40×20 size drew its boxes on the unturned pixels: they turn with it."""
    photo = exif_jpeg((40, 20), 6)
    project = _detection(owner)
    plan = _plan(project, "yolo", _yolo({"p.txt": "0 0.5 0.125 1 0.25\n"}, images={"p.jpg": photo}))
    assert plan.ok and not plan.problems
    services.import_apply(plan=plan)
    image = Image.objects.get(project=project)
    assert (image.width, image.height) == (20, 40)
    region = Region.objects.get(image=image)
    assert (region.left, region.top, region.width, region.height) == (0, 0, 1, 0.25)

    other = make_project(owner, name="Coco", project_type=Project.ProjectType.DETECTION)
    doc = {"images": [{"id": 1, "file_name": "p.jpg", "width": 40, "height": 20}],
           "categories": [{"id": 1, "name": "cat"}],
           "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 20]}]}  # left quarter
    plan = _plan(other, "coco", {"annotations.json": json.dumps(doc), "p.jpg": photo})
    assert _lines(plan, WARNING) == ["p.jpg: the boxes of p.jpg were drawn on the unrotated photo (40×20); they are "
                                     "turned with it (EXIF orientation)."]
    services.import_apply(plan=plan)
    region = Region.objects.get(image__project=other)
    assert (region.left, region.top, region.width, region.height) == (0, 0, 1, 0.25)  # the top quarter, as shown


def test_a_truncated_image_is_a_preview_error(owner):
    plan = _plan(make_project(owner), "folders", {"cat/a.png": png(1), "dog/b.png": png(2, (200, 200))[:-40]})
    assert _lines(plan, ERROR) == ["dog/b.png: is truncated or corrupt: its pixels cannot be read."]


def test_a_failure_half_way_leaves_no_rows_and_no_files(owner, settings):
    """The second image passes the preview but the upload refuses it (here: over the size limit, lowered after
    the preview): nothing stays, rows nor files."""
    project = make_project(owner, name="Atomic")
    plan = _plan(project, "folders", {"cat/a.png": png(1), "dog/b.png": png(2, (200, 200))})
    assert plan.ok
    settings.TAGSIGHT_MAX_IMAGE_BYTES = len(png(1)) + 1
    with pytest.raises(services.ImportFailed, match="dog/b.png"):
        services.import_apply(plan=plan)
    assert not Image.objects.filter(project=project).exists() and not Tag.objects.filter(project=project).exists()
    media = settings.MEDIA_ROOT / "projects" / str(project.id)
    assert not media.exists() or not any(p.is_file() for p in media.rglob("*"))


@pytest.mark.parametrize("doc", [
    '{"images": "x"}', "[1, 2]", '{"images": [1, {"id": [1], "file_name": "a.png"}], "categories": [{"id": {}}],'
    ' "annotations": [7, {"image_id": [1], "category_id": [2], "bbox": ["a"]}, {"image_id": [1], "category_id": 5,'
    ' "bbox": [1e999, 0, 1, 1]}]}', "not json",
])
def test_garbage_coco_gives_lines_not_a_crash(owner, doc):
    plan = _plan(_detection(owner), "coco", {"annotations.json": doc, "a.png": png(1)})
    assert plan.problems and all(str(p) for p in plan.problems)


@pytest.mark.parametrize(("fmt", "files", "line"), [
    ("csv", {"a.png": png(1)}, "A CSV import needs exactly one .csv file in the zip."),
    ("folders", {"notes.txt": "x"}, "No images in the zip."),
    ("yolo", {"images/a.png": png(1)}, "No data.yaml in the zip: a YOLO dataset names its classes there."),
    ("voc", {"a.png": png(1)}, "No Pascal VOC annotation files (*.xml) in the zip."),
    ("csv", {"a.csv": "a.png,cat\n", "../../a.png": png(1)}, "a.csv line 1: names 'a.png', which is not in the zip; "
                                                            "its rows are skipped."),
])
def test_empty_or_wrong_zips(owner, fmt, files, line):
    project = _detection(owner) if fmt in ("yolo", "voc") else make_project(owner)
    plan = _plan(project, fmt, files)
    assert line in [str(p) for p in plan.problems]


def test_zip_without_the_utf8_flag_keeps_unicode_names(owner):
    """Tools that write UTF-8 names without the zip's UTF-8 flag: zipfile reads them as cp437 ("cafÃ©")."""
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:  # ASCII stand-ins of the same byte length: written without the flag
        zf.writestr("chat noir/cafXX.png", png(1))
        zf.writestr("QQQ/b.png", png(2))
    raw = buf.getvalue().replace(b"cafXX", "café".encode()).replace(b"QQQ/", "狗/".encode())
    with zipfile.ZipFile(io.BytesIO(raw)) as zf:
        assert all(not i.flag_bits & 0x800 for i in zf.infolist()) and "café" not in zf.namelist()[0]
    project = make_project(owner, name="Flags")
    plan = services.import_plan(project=project, format="folders", source=io.BytesIO(raw))
    assert plan.ok and sorted(plan.new_tags) == ["chat noir", "狗"]
    assert sorted(i.name for i in plan.items) == ["chat noir/café.png", "狗/b.png"]


def test_negative_tag_with_another_is_an_error(owner):
    from projects.services import tag_create

    project = make_project(owner, name="Neg", classification_type=Project.ClassificationType.MULTILABEL)
    tag_create(project=project, name="Negative", type="Negative")
    plan = _plan(project, "csv", {"a.csv": "x.png,negative\nx.png,cat\n", "x.png": png(1)})
    assert _lines(plan, ERROR) == ["x.png: has the Negative tag 'Negative' and other tags; a Negative image has no "
                                   "other tag."]


def test_export_of_a_lost_file_says_which(owner, settings):
    import os

    project = make_project(owner, name="Lost")
    assert image_upload(project=project, data=png(1), filename="gone.png").status == "OK"
    os.remove(Image.objects.get(project=project).file.path)
    with pytest.raises(services.DatasetError, match="image gone.png cannot be read"):
        services.export_write(dataset=services.export_dataset(project=project), format="folders", out=io.BytesIO())


def test_roboflow_layouts_one_coco_file_per_split_and_yolo_split_folders(owner):
    """Roboflow's exports: train/_annotations.coco.json beside its images (one per split); YOLO's train/images/…
    with train/labels/… and a data.yaml at the top."""
    def coco(name, image):
        return json.dumps({"images": [{"id": 0, "file_name": name, "width": 40, "height": 30}],
                           "categories": [{"id": 0, "name": "cat"}],
                           "annotations": [{"id": 0, "image_id": 0, "category_id": 0, "bbox": [4, 3, 20, 15]}]})

    project = _detection(owner)
    plan = _plan(project, "coco", {"train/_annotations.coco.json": coco("a.png", 1), "train/a.png": png(1),
                                   "valid/_annotations.coco.json": coco("b.png", 2), "valid/b.png": png(2)})
    assert plan.ok and not plan.problems and len(plan.items) == 2 and plan.box_count == 2
    assert plan.new_tags == ["cat"]
    plan = _plan(_detection(owner), "yolo", {
        "data.yaml": "train: ../train/images\nval: ../valid/images\nnc: 1\nnames: ['cat']\n",
        "train/images/a.png": png(1), "train/labels/a.txt": "0 0.5 0.5 0.5 0.5\n",
        "valid/images/b.png": png(2), "valid/labels/b.txt": "0 0.25 0.25 0.5 0.5\n"})
    assert plan.ok and not plan.problems and plan.box_count == 2


def test_voc_filename_without_extension_and_missing_image(owner):
    def xml(filename):
        return (f"<annotation><filename>{filename}</filename><size><width>40</width><height>30</height></size>"
                "<object><name>cat</name><bndbox><xmin>4</xmin><ymin>3</ymin><xmax>24</xmax><ymax>18</ymax>"
                "</bndbox></object></annotation>")

    plan = _plan(_detection(owner), "voc", {"Annotations/a.xml": xml("a"), "JPEGImages/a.png": png(1),
                                            "Annotations/b.xml": xml("b.jpg"), "Annotations/c.xml": "<annotation>"})
    assert [str(p) for p in plan.problems] == [
        "Annotations/b.xml: names the image 'b.jpg', which is not in the zip; its boxes are skipped.",
        "Annotations/c.xml: is not valid XML (no element found: line 1, column 12).",
    ]
    [item] = plan.items
    assert item.boxes[0].left == 0.1 and item.boxes[0].width == 0.5
