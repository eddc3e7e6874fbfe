"""Project archives: what a round trip carries, byte for byte and row for row, and how bad archives are refused."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.files.storage import default_storage

from datasets.archives.format import ArchiveError
from datasets.archives.imports import archive_import, archive_inspect
from tests.datasets.archives.helpers import archive_bytes, edit_json, members, rewrite
from tests.factories import make_image_bytes, make_tag
from tests.training.builders import completed_iteration, tagged_project

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(owner):  # type: ignore[no-untyped-def]
    from workspaces.services import workspace_create

    return workspace_create(name="Elsewhere", owner=owner)


def _classifier(owner):  # type: ignore[no-untyped-def]
    """Hemlock and Cherry (5 images each), a Negative tag on one more image with metadata, a published iteration."""
    project = tagged_project(owner, description="Trees of the park")
    iteration = completed_iteration(project, owner=owner, publish_name="live")
    negative = make_tag(project, "Nothing", type="Negative", description="no tree")
    from projects.services import image_upload

    image_upload(project=project, data=make_image_bytes(size=(40, 30), color=(1, 2, 3)), filename="empty.png",
                 tags=[negative.id], metadata={"camera": "north"})
    return project, iteration


def _media_projects() -> set[str]:
    return set(default_storage.listdir("projects")[0]) if default_storage.exists("projects") else set()


@pytest.mark.integration
def test_round_trip_carries_settings_tags_images_and_iterations(owner, team):  # type: ignore[no-untyped-def]
    from projects.models import Image
    from training.models import Iteration

    source, iteration = _classifier(owner)
    type(source).objects.filter(id=source.id).update(max_detections=42)
    source.refresh_from_db()
    data = archive_bytes(source)

    copy, preview = archive_import(source=io.BytesIO(data), workspace=team, created_by=owner)

    assert copy.id != source.id and copy.workspace_id == team.id
    assert (copy.name, copy.description, copy.project_type, copy.classification_type, copy.domain_id,
            copy.max_detections) == (source.name, source.description, source.project_type,
                                     source.classification_type, source.domain_id, 42)
    assert preview.counts == {"tags": 3, "images": 11, "regions": 0, "iterations": 1}
    assert "published" in preview.notes[0]
    assert sorted((t.name, t.type, t.description, t.created) for t in copy.tags.all()) == sorted(
        (t.name, t.type, t.description, t.created) for t in source.tags.all())

    def images(project):  # type: ignore[no-untyped-def]
        out = {}
        for image in Image.objects.filter(project=project).prefetch_related("tags"):
            with default_storage.open(image.file.name, "rb") as fh:
                out[image.sha256] = (fh.read(), sorted(t.name for t in image.tags.all()), image.metadata,
                                     image.created, image.width, image.height, image.original_name)
        return out

    assert images(copy) == images(source)  # originals byte-identical, tags, metadata, created dates
    assert all(default_storage.exists(i.thumbnail.name) for i in Image.objects.filter(project=copy))

    imported = Iteration.objects.get(project=copy)
    assert (imported.name, imported.number, imported.status, imported.fingerprint, imported.created) == (
        iteration.name, iteration.number, iteration.status, iteration.fingerprint, iteration.created)
    assert not imported.is_published  # publishing needs this workspace's prediction key
    # Ids inside the snapshot and the metrics point at the imported tags and images, never at the source's.
    new_ids = {str(i) for i in Image.objects.filter(project=copy).values_list("id", flat=True)}
    assert {v["id"] for v in imported.metrics["validation_predictions"]} <= new_ids
    assert {t["id"] for t in imported.snapshot["tags"]} == {str(t.id) for t in copy.tags.exclude(name="Nothing")}
    assert {i["id"] for i in imported.snapshot["images"]} <= new_ids
    assert _ids_as_content(imported.metrics, copy) == _ids_as_content(iteration.metrics, source)
    assert _ids_as_content(imported.snapshot, copy) == _ids_as_content(iteration.snapshot, source)


def _ids_as_content(value, project):  # type: ignore[no-untyped-def]
    """``value`` as JSON with each image id written as its sha256 and each tag id as its name: comparable across
    projects."""
    from projects.models import Image

    text = json.dumps(value, sort_keys=True)
    for image in Image.objects.filter(project=project):
        text = text.replace(image.file.name, f"file:{image.sha256}").replace(str(image.id), image.sha256)
    for tag in project.tags.all():
        text = text.replace(str(tag.id), f"tag:{tag.name}")
    return text


def test_without_iterations_the_archive_has_no_models(owner, team):  # type: ignore[no-untyped-def]
    source, _ = _classifier(owner)
    data = archive_bytes(source, iterations=False)
    assert not any(name.startswith("iterations/") for name in members(data))
    copy, preview = archive_import(source=io.BytesIO(data), workspace=team)
    assert preview.counts["iterations"] == 0 and not copy.iterations.exists()
    assert copy.images.count() == 11
    # A value only the database refuses (a negative iteration number): rolled back, its files deleted.
    tampered = rewrite(archive_bytes(source), edit_json("project.json", lambda c: c["iterations"][0].update(number=-1)))
    _refused(tampered, team, "database refuses")


# The other installation: its own data folder (SQLite database, media) and nothing of this process's services.
_FOREIGN_ENV = ("DATABASE_URL", "MEDIA_ROOT", "STORAGE_BACKEND", "CELERY_BROKER_URL", "TEST_DATABASE_NAME",
                "STATIC_ROOT", "TAGSIGHT_METRICS_DIR")
_PREDICT = """
import json, os
from predictions.services import prediction_run
from training.models import Iteration
iteration = Iteration.objects.select_related("project").get()
out = [prediction_run(project=iteration.project, iteration=iteration, data=open(path, "rb").read(), store=False)
       .predictions for path in os.environ["PROBES"].split(os.pathsep)]
from labeling.models import Region
print("PREDICTIONS " + json.dumps({"regions": Region.objects.filter(image__project=iteration.project).count(),
                                   "predictions": out}))
"""


@pytest.mark.slow
def test_an_imported_detector_predicts_exactly_as_before_on_another_server(owner, tmp_path):  # type: ignore[no-untyped-def]
    """Export a trained detector with its iteration, import it into a separate installation (its own process, data
    folder and database, migrated from scratch) and predict the same images there: the same boxes and scores."""
    import os
    import subprocess
    import sys

    from django.core.management import call_command

    from labeling.models import Region
    from predictions.services import prediction_run
    from tests.predictions.builders import DETECTION, tiny_fork_detector

    source, iteration = tiny_fork_detector(owner, tmp_path, per_tag=1)
    archive = tmp_path / "forks.zip"
    call_command("project_archive", "export", str(source.id), str(archive), "--iterations", stdout=io.StringIO())
    probes = [DETECTION / rel for rel in sorted(json.loads((DETECTION / "manifest.json").read_text())["images"])[-3:]]
    expected = [prediction_run(project=source, iteration=iteration, data=p.read_bytes(), store=False).predictions
                for p in probes]
    assert any(expected)

    env = {k: v for k, v in os.environ.items() if k not in _FOREIGN_ENV and not k.startswith("S3_")}
    env.update(TAGSIGHT_DATA_DIR=str(tmp_path / "other"), DJANGO_SETTINGS_MODULE="portal.settings",
               PROBES=os.pathsep.join(map(str, probes)))
    root = Path(__file__).resolve().parents[3]

    def manage(*args: str) -> str:
        done = subprocess.run([sys.executable, "manage.py", *args], cwd=root, env=env, capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    manage("migrate", "--noinput")
    manage("workspace", "create", "Elsewhere", "--owner", "alice", "--create-user")
    assert "Imported 'Forks'" in manage("project_archive", "import", str(archive), "--workspace", "Elsewhere")
    said = manage("shell", "-c", _PREDICT)
    there = json.loads(said.split("PREDICTIONS ", 1)[1])
    assert there["predictions"] == json.loads(json.dumps(expected))
    assert there["regions"] == Region.objects.filter(image__project=source).count() == 2


# ------------------------------------------------------------------------------------------------ refusals


def _refused(data: bytes, workspace, *words: str) -> None:  # type: ignore[no-untyped-def]
    from projects.models import Project

    before, media = Project.objects.count(), _media_projects()
    with pytest.raises(ArchiveError) as refused:
        archive_import(source=io.BytesIO(data), workspace=workspace)
    for word in words:
        assert word in refused.value.message, refused.value.message
    assert Project.objects.count() == before and _media_projects() == media  # nothing half-imported


@pytest.mark.integration
def test_bad_archives_are_refused_clearly_with_nothing_written(owner, team):  # type: ignore[no-untyped-def]
    source = tagged_project(owner, per_tag=2)
    data = archive_bytes(source)
    image_member = next(n for n in members(data) if n.startswith("images/"))

    _refused(b"PK\x03\x04 not really", team, "not a zip")
    _refused(make_image_bytes(), team, "not a zip")
    _refused(rewrite(data, lambda f: f.pop("manifest.json")), team, "no manifest.json")
    _refused(rewrite(data, edit_json("manifest.json", lambda m: m.update(format="coco"))), team, "another format")
    _refused(rewrite(data, edit_json("manifest.json", lambda m: m.update(version=99)), fix_checksums=False), team,
             "version 99", "newer Tagsight")
    _refused(rewrite(data, lambda f: f.pop(image_member), fix_checksums=False), team, "missing", image_member)
    _refused(rewrite(data, lambda f: f.update({image_member: f[image_member] + b"!"}), fix_checksums=False), team,
             "altered", image_member)
    _refused(rewrite(data, lambda f: f.update({"extra.txt": b"x"}), fix_checksums=False), team, "does not list")
    _refused(rewrite(data, edit_json("project.json", lambda c: c["project"].update(
        domain_id="00000000-0000-0000-0000-000000000000"))), team, "Unknown domain")
    _refused(rewrite(data, edit_json("project.json", lambda c: c.pop("tags"))), team, "malformed")
    _refused(rewrite(data, edit_json("project.json", lambda c: c["project"].update(max_detections=301))), team,
             "Max detections 301")
    _refused(rewrite(data, edit_json("project.json", lambda c: c["images"][0]["regions"].append(
        {"tag": c["tags"][0]["id"], "left": 0.5, "top": 0.5, "width": 2, "height": 0.1}))), team, "outside")
    # A member whose checksum is right but which is no image: refused while writing, and what was written goes.
    _refused(rewrite(data, lambda f: f.update({image_member: b"GIF89a garbage"})), team, "was refused")


def test_quotas_apply(owner, team, settings):  # type: ignore[no-untyped-def]
    source = tagged_project(owner, per_tag=2)
    data = archive_bytes(source)
    settings.TAGSIGHT_MAX_IMAGES_PER_PROJECT = 3
    preview = archive_inspect(source=io.BytesIO(data), workspace_id=team.id)
    assert preview.counts["images"] == 4 and not preview.ok
    _refused(data, team, "at most 3")
    settings.TAGSIGHT_MAX_IMAGES_PER_PROJECT = 100
    settings.TAGSIGHT_MAX_IMAGE_BYTES = 100  # an image over it is never read into memory
    _refused(data, team, "4 images are larger than this server's limit of 100 bytes")
    settings.TAGSIGHT_MAX_IMAGE_BYTES = 6 * 1024 * 1024
    settings.TAGSIGHT_MAX_PROJECTS_PER_WORKSPACE = 1
    archive_import(source=io.BytesIO(data), workspace=team)
    _refused(data, team, "limit of 1 projects")


def test_the_command_exports_and_imports(owner, team, tmp_path):  # type: ignore[no-untyped-def]
    from django.core.management import CommandError, call_command

    from workspaces.models import AuditEntry

    source, _ = _classifier(owner)
    out = tmp_path / "trees.zip"
    call_command("project_archive", "export", str(source.id), str(out), "--iterations", stdout=io.StringIO())
    assert json.loads(members(out.read_bytes())["manifest.json"])["counts"]["iterations"] == 1
    said = io.StringIO()
    call_command("project_archive", "import", str(out), "--workspace", "Elsewhere", "--name", "Copy", stdout=said)
    assert "Imported 'Copy'" in said.getvalue() and team.projects.get().name == "Copy"
    assert AuditEntry.objects.filter(action="project.import", workspace=team).exists()
    assert AuditEntry.objects.filter(action="project.archive", project_id=source.id).exists()
    with pytest.raises(CommandError, match="not a zip"):
        call_command("project_archive", "import", __file__, "--workspace", "Elsewhere")
    with pytest.raises(CommandError, match="No project"):
        call_command("project_archive", "export", "nope", str(tmp_path / "x.zip"))
    with pytest.raises(CommandError, match="No folder"):
        call_command("project_archive", "export", str(source.id), str(tmp_path / "missing" / "x.zip"))
    with pytest.raises(CommandError, match="No workspace named 'Nowhere'"):
        call_command("project_archive", "import", str(out), "--workspace", "Nowhere")
    assert not list(Path(tmp_path).glob("*.part"))


def test_azure_import_project_copies_through_the_archive_all_or_nothing(owner, team, settings):  # type: ignore[no-untyped-def]
    """projects.copying (Azure's import_project) is the archive's copy: metadata kept, no iterations, quotas whole."""
    from projects.copying import project_copy
    from projects.errors import ProjectsError

    source, _ = _classifier(owner)
    copy = project_copy(source=source, workspace=team.id, name="Copy")
    assert copy.images.count() == 11 and not copy.iterations.exists()
    assert copy.images.get(original_name="empty.png").metadata == {"camera": "north"}
    settings.TAGSIGHT_MAX_IMAGES_PER_PROJECT = 10
    with pytest.raises(ProjectsError, match="at most 10"):
        project_copy(source=source, workspace=team.id, name="Too big")
    assert list(team.projects.values_list("name", flat=True)) == ["Copy"]
