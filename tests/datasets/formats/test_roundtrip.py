"""Every format round-trips: export -> import into a fresh project reproduces images, tags and boxes (1e-6)."""

from __future__ import annotations

import io

import pytest

from datasets.formats import services
from projects.models import Project, Tag
from tests.datasets.formats.helpers import assert_same, contents, filled_project
from tests.factories import make_project

pytestmark = pytest.mark.django_db


def _round_trip(source: Project, fmt: str, target: Project) -> None:
    buf = io.BytesIO()
    services.export_write(dataset=services.export_dataset(project=source), format=fmt, out=buf)
    buf.seek(0)
    plan = services.import_plan(project=target, format=fmt, source=buf)
    assert plan.ok, [str(p) for p in plan.problems]
    assert not plan.problems, [str(p) for p in plan.problems]
    services.import_apply(plan=plan)
    assert_same(contents(source), contents(target))


@pytest.mark.integration
@pytest.mark.parametrize("fmt", ["coco", "yolo", "voc", "csv"])
def test_detection_formats_round_trip(owner, fmt):
    source = filled_project(owner, detection=True)
    target = make_project(owner, name="Fresh", project_type=Project.ProjectType.DETECTION)
    _round_trip(source, fmt, target)
    # Declared tags travel too (an unused tag is a COCO category, a YOLO class); VOC and CSV list no classes.
    names = set(Tag.objects.filter(project=target).values_list("name", flat=True))
    assert names >= {"red fox", "Élan 鹿"}
    assert ("unused" in names) == (fmt in ("coco", "yolo"))


@pytest.mark.parametrize("fmt", ["csv", "folders"])
def test_classification_formats_round_trip(owner, fmt):
    source = filled_project(owner, detection=False, multilabel=True)
    target = make_project(owner, name="Fresh", classification_type=Project.ClassificationType.MULTILABEL)
    _round_trip(source, fmt, target)


@pytest.mark.parametrize("fmt", ["csv", "folders"])
def test_multiclass_round_trip(owner, fmt):
    source = filled_project(owner, detection=False)
    _round_trip(source, fmt, make_project(owner, name="Fresh"))


def test_coco_export_loads_in_pycocotools(owner, tmp_path):
    """The exported annotations.json is a COCO file the reference API indexes (pycocotools, a test dependency)."""
    import zipfile

    from pycocotools.coco import COCO

    buf = io.BytesIO()
    services.export_write(dataset=services.export_dataset(project=filled_project(owner, detection=True)),
                          format="coco", out=buf)
    path = tmp_path / "annotations.json"
    path.write_bytes(zipfile.ZipFile(buf).read("annotations.json"))
    coco = COCO(str(path))
    assert len(coco.getImgIds()) == 5 and len(coco.getAnnIds()) == 5
    assert {c["name"] for c in coco.loadCats(coco.getCatIds())} == {"red fox", "Élan 鹿", "unused"}
