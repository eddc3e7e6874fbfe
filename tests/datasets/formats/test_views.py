"""The portal pages (upload -> preview -> confirm or cancel; export form -> zip) and the two commands."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from labeling.models import Region
from projects.models import Image, Project, Tag
from tests.datasets.formats.helpers import assert_same, contents, filled_project, png, zip_of
from tests.factories import make_project
from training.models import Iteration
from training.services.snapshot import snapshot_take

pytestmark = pytest.mark.django_db


def _upload(client, project, fmt, files, name="data.zip"):
    upload = io.BytesIO(zip_of(files))
    upload.name = name
    return client.post(reverse("datasets:formats-import", args=[project.id]), {"format": fmt, "file": upload})


def _token(response):
    return response.content.decode().split('name="token" value="')[1].split('"')[0]


def test_upload_preview_then_confirm(owner, owner_client, settings):
    project = make_project(owner, name="Pets")
    response = _upload(owner_client, project, "folders", {"cat/a.png": png(1), "dog/b b.png": png(2),
                                                          "cat/c.png": png(1)})
    assert response.status_code == 200
    page = response.content.decode()
    assert "2 image(s) to create: 2 tagged, 0 untagged." in page
    assert "cat/c.png</span>: is the same image as cat/a.png" in page
    assert not Image.objects.filter(project=project).exists() and not Tag.objects.filter(project=project).exists()
    pending = settings.MEDIA_ROOT / "datasets" / "formats" / "pending"
    assert len(list(pending.iterdir())) == 1

    token = _token(response)
    response = owner_client.post(reverse("datasets:formats-import-confirm", args=[project.id]),
                                 {"token": token, "confirm": "1"})
    assert response.status_code == 302
    assert Image.objects.filter(project=project).count() == 2
    assert sorted(Tag.objects.filter(project=project).values_list("name", flat=True)) == ["cat", "dog"]
    assert not list(pending.iterdir())
    # The token is spent: confirming again imports nothing more.
    again = owner_client.post(reverse("datasets:formats-import-confirm", args=[project.id]),
                              {"token": token, "confirm": "1"}, follow=True)
    assert "no longer waiting for confirmation" in again.content.decode()


def test_errors_block_the_import_and_cancel_writes_nothing(owner, owner_client, settings):
    project = make_project(owner, name="Boxes", project_type=Project.ProjectType.DETECTION)
    files = {"data.yaml": "names: [cat]\n", "images/train/a.png": png(1), "labels/train/a.txt": "3 0.5 0.5 0.1 0.1\n"}
    response = _upload(owner_client, project, "yolo", files)
    assert response.status_code == 400
    page = response.content.decode()
    assert "class 3 is not in data.yaml&#x27;s names (unknown class)." in page
    assert 'data-testid="import-confirm"' not in page
    response = owner_client.post(reverse("datasets:formats-import-confirm", args=[project.id]),
                                 {"token": _token(response), "confirm": "1"})
    assert response.status_code == 400 and not Image.objects.filter(project=project).exists()
    response = owner_client.post(reverse("datasets:formats-import-confirm", args=[project.id]),
                                 {"token": _token(response), "cancel": "1"})
    assert response.status_code == 302
    assert not list((settings.MEDIA_ROOT / "datasets" / "formats" / "pending").iterdir())


def test_import_offers_only_fitting_formats_and_refuses_others(owner, owner_client):
    project = make_project(owner, name="Classes")
    page = owner_client.get(reverse("datasets:formats-import", args=[project.id])).content.decode()
    assert 'value="folders"' in page and 'value="csv"' in page and 'value="coco"' not in page
    response = _upload(owner_client, project, "coco", {"a.json": "{}"})
    assert response.status_code == 400 and "Select a valid choice" in response.content.decode()


def test_export_all_tags_and_iteration_split(owner, owner_client):
    project = filled_project(owner, detection=True)
    url = reverse("datasets:formats-export", args=[project.id])
    assert owner_client.get(url).status_code == 200
    response = owner_client.get(url, {"format": "coco", "scope": "all"})
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    doc = json.loads(zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))).read("annotations.json"))
    assert len(doc["images"]) == 5 and len(doc["annotations"]) == 5

    fox = Tag.objects.get(project=project, name="red fox")
    response = owner_client.get(url, {"format": "csv", "scope": "tags", "tags": [str(fox.id)]})
    rows = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))).read("annotations.csv").decode()
    assert rows.count("\n") == 1 + 2 and "Élan" not in rows  # header + the two fox boxes, on their two images

    snapshot = snapshot_take(project=project)
    ids = [i["id"] for i in snapshot["images"]]
    iteration = Iteration.objects.create(
        project=project, number=1, name="Iteration 1", status="Completed", domain_id=project.domain_id,
        project_type="detection", snapshot=snapshot,
        metrics={"split": {"method": "holdout", "seed": 0, "k": 1, "train_ids": ids[:2], "val_ids": ids[2:]}})
    response = owner_client.get(url, {"format": "yolo", "scope": "iteration", "iteration": str(iteration.id),
                                      "split": "validation"})
    names = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))).namelist()
    assert len([n for n in names if n.startswith("images/")]) == len(ids[2:])
    assert "iteration-1-validation" in response["Content-Disposition"]

    # k-fold: every image was validated once and trained on in the other folds, so the training split is all.
    Iteration.objects.filter(id=iteration.id).update(
        metrics={"split": {"method": "kfold", "seed": 0, "k": 5, "train_ids": [], "val_ids": ids}})
    response = owner_client.get(url, {"format": "coco", "scope": "iteration", "iteration": str(iteration.id),
                                      "split": "train"})
    doc = json.loads(zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))).read("annotations.json"))
    assert len(doc["images"]) == len(ids)

    response = owner_client.get(url, {"format": "folders", "scope": "all"})
    assert response.status_code == 400 and "Select a valid choice" in response.content.decode()
    response = owner_client.get(url, {"format": "coco", "scope": "tags"})
    assert response.status_code == 400 and "Pick at least one tag." in response.content.decode()


def test_commands_round_trip_with_dry_run(owner, tmp_path, capsys):
    source = filled_project(owner, detection=True)
    out = tmp_path / "set.zip"
    call_command("dataset_export", str(out), project=str(source.id), format="voc")
    assert "Wrote 5 image(s), 5 box(es)" in capsys.readouterr().out
    target = make_project(owner, name="Fresh", project_type=Project.ProjectType.DETECTION)
    call_command("dataset_import", str(out), project=str(target.id), format="voc", dry_run=True)
    printed = capsys.readouterr().out
    assert "5 image(s) to create: 4 tagged, 1 untagged, 5 box(es)." in printed and "Dry run" in printed
    assert not Image.objects.filter(project=target).exists()
    call_command("dataset_import", str(out), project=str(target.id), format="voc")
    assert_same(contents(source), contents(target))
    assert Region.objects.filter(image__project=target).count() == 5

    bad = tmp_path / "bad.zip"
    bad.write_bytes(zip_of({"data.yaml": "names: [a]\n", "images/x.png": png(1), "labels/x.txt": "5 .5 .5 .1 .1"}))
    with pytest.raises(CommandError, match="1 error"):
        call_command("dataset_import", str(bad), project=str(target.id), format="yolo")
    assert "ERROR: labels/x.txt line 1: class 5 is not in data.yaml's names" in capsys.readouterr().out
    with pytest.raises(CommandError, match="No project"):
        call_command("dataset_export", str(out), project="nope", format="coco")
    with pytest.raises(CommandError, match="go together"):
        call_command("dataset_export", str(out), project=str(source.id), format="coco", split="train")
