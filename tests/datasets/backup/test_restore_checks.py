"""backup/restore in-process on the test database: a round trip, and every bad input refused before any change."""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.datasets.backup.helpers import manage, this_installation
from tests.factories import make_project, make_tag
from tests.training.builders import add_image

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def installation(owner):  # type: ignore[no-untyped-def]
    from workspaces.services import personal_keys

    project = make_project(owner)
    tag = make_tag(project, "Hemlock")
    images = [add_image(project, tags=[tag]) for _ in range(3)]
    return project, images, personal_keys(user=owner)


@pytest.fixture
def archive(installation, tmp_path, settings) -> Path:  # type: ignore[no-untyped-def]
    """A backup taken by `manage.py backup` in its own process (as an operator runs it)."""
    out = tmp_path / "backup.zip"
    manage("backup", str(out), env=this_installation(settings.MEDIA_ROOT))
    return out


def _stored(settings) -> dict[str, bytes]:  # type: ignore[no-untyped-def]
    root = Path(settings.MEDIA_ROOT)
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _wipe(settings) -> None:  # type: ignore[no-untyped-def]
    """An empty installation: migrated tables with no rows, no stored files."""
    call_command("flush", interactive=False, verbosity=0)
    shutil.rmtree(settings.MEDIA_ROOT, ignore_errors=True)


def test_round_trip_brings_everything_back(installation, archive, settings, django_user_model, monkeypatch):  # type: ignore[no-untyped-def]
    from projects.models import Image
    from workspaces.models import WorkspaceKey

    project, images, keys = installation
    password_hash = django_user_model.objects.get(username="owner").password
    key_rows = sorted(WorkspaceKey.objects.values_list("kind", "slot", "key"))
    files = _stored(settings)
    created = sorted(Image.objects.values_list("id", "created"))
    manifest = json.loads(zipfile.ZipFile(archive).read("manifest.json"))
    assert manifest["counts"]["rows"]["projects.image"] == 3
    assert manifest["counts"]["files"] == len(files) == 6  # original + thumbnail per image (display = original)
    assert manifest["profile"] == {"database": "sqlite", "storage": "FileSystemStorage"}

    # Never over a user's data: rows there, or (rows gone) their files still in the storage.
    with pytest.raises(CommandError, match=r"not empty \(1 auth.user.*Nothing was restored"):
        call_command("restore", str(archive))
    call_command("flush", interactive=False, verbosity=0)
    with pytest.raises(CommandError, match=r"already holds files under projects/"):
        call_command("restore", str(archive))
    assert _stored(settings) == files

    _wipe(settings)
    monkeypatch.setattr("datasets.backup.rows.BATCH", 2)  # several batches of rows and of image-tag links
    call_command("restore", str(archive))

    assert django_user_model.objects.get(username="owner").password == password_hash
    assert sorted(WorkspaceKey.objects.values_list("kind", "slot", "key")) == key_rows
    assert _stored(settings) == files
    assert sorted(Image.objects.values_list("sha256", flat=True)) == sorted(i.sha256 for i in images)
    assert sorted(Image.objects.values_list("id", "created")) == created  # auto_now_add kept, not reset
    for image in Image.objects.all():
        assert [t.name for t in image.tags.all()] == ["Hemlock"]
        with default_storage.open(image.thumbnail.name, "rb") as fh:
            assert fh.read() == files[image.thumbnail.name]
    # New rows after the restore get fresh ids (sequences follow the restored rows).
    add_image(Image.objects.first().project, tags=[])  # type: ignore[union-attr]
    django_user_model.objects.create_user(username="new", password="new-pass-1234")


DAMAGES = {"text": "not a Tagsight backup", "no-manifest": "no manifest.json", "truncated": "not a Tagsight",
           "flipped-byte": "does not match its SHA-256", "extra-member": "do not match its manifest",
           "unsafe-name": "unsafe member name"}


def _damaged(archive: Path, bad: Path, damage: str) -> None:
    with zipfile.ZipFile(archive) as src:
        members = {info.filename: src.read(info) for info in src.infolist()}
    if damage == "text":
        bad.write_text("hello")
        return
    if damage == "truncated":
        bad.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
        return
    if damage == "no-manifest":
        del members["manifest.json"]
    elif damage == "flipped-byte":
        name = next(n for n in members if n.startswith("media/"))
        members[name] = bytes([members[name][0] ^ 1]) + members[name][1:]
    elif damage == "extra-member":
        members["media/evil.txt"] = b"not listed"
    else:
        manifest = json.loads(members["manifest.json"])
        manifest["members"]["media/../../evil.txt"] = {"sha256": hashlib.sha256(b"x").hexdigest(), "size": 1}
        members["manifest.json"] = json.dumps(manifest).encode()
        members["media/../../evil.txt"] = b"x"
    with zipfile.ZipFile(bad, "w") as out:
        for name, body in members.items():
            out.writestr(name, body)


def test_refuses_a_damaged_archive_before_touching_anything(archive, settings, tmp_path, django_user_model):  # type: ignore[no-untyped-def]
    _wipe(settings)
    for damage, expected in DAMAGES.items():
        bad = tmp_path / f"{damage}.zip"
        _damaged(archive, bad, damage)
        with pytest.raises(CommandError, match=expected):
            call_command("restore", str(bad))
        assert not django_user_model.objects.exists()
        assert not Path(settings.MEDIA_ROOT).exists() or not any(Path(settings.MEDIA_ROOT).rglob("*.*"))
    with pytest.raises(CommandError, match="does not exist"):
        call_command("restore", str(tmp_path / "nowhere.zip"))


def test_backup_with_a_missing_file_fails_and_leaves_no_archive(installation, settings, tmp_path):  # type: ignore[no-untyped-def]
    _, images, _ = installation
    default_storage.delete(images[1].thumbnail.name)
    out = tmp_path / "torn.zip"
    done = manage("backup", str(out), env=this_installation(settings.MEDIA_ROOT), check=False)
    assert done.returncode == 1
    assert "1 stored file(s) that the database references could not be read" in done.stderr
    assert images[1].thumbnail.name in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["media"]  # no archive, no leftovers
    out.write_text("")
    with pytest.raises(CommandError, match="already exists"):
        call_command("backup", str(out))
