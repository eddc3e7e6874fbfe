"""Archive pages: download from the project settings, import from the projects list (preview, then confirm)."""

from __future__ import annotations

import json
import re

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse

from tests.datasets.archives.helpers import archive_bytes, members
from tests.training.builders import completed_iteration, tagged_project

pytestmark = pytest.mark.django_db


def _pending() -> list[str]:
    return default_storage.listdir("archive-imports")[1] if default_storage.exists("archive-imports") else []


def test_the_settings_page_downloads_the_archive_with_or_without_iterations(owner, owner_client):  # type: ignore[no-untyped-def]
    from workspaces.models import AuditEntry

    project = tagged_project(owner, per_tag=2)
    page = owner_client.get(reverse("projects:project-edit", args=[project.id])).content.decode()
    assert 'data-testid="archive-download"' in page

    response = owner_client.get(reverse("datasets:archive-export", args=[project.id]), {"iterations": "1"})
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    assert re.match(r'attachment; filename="Trees-\d{8}\.tagsight\.zip"', response["Content-Disposition"])
    files = members(b"".join(response.streaming_content))
    manifest = json.loads(files["manifest.json"])
    assert manifest["includes_iterations"] is True and manifest["counts"]["images"] == 4
    assert AuditEntry.objects.filter(action="project.archive", project_id=project.id).count() == 1


def test_a_labeler_may_not_download_the_archive(owner, django_user_model):  # type: ignore[no-untyped-def]
    from django.test import Client

    from workspaces.services import member_add, workspace_create

    team = workspace_create(name="Team", owner=owner)
    project = tagged_project(owner, per_tag=1, workspace=team)
    labeler = django_user_model.objects.create_user(username="lab")
    member_add(workspace=team, user=labeler, role="labeler")
    client = Client()
    client.force_login(labeler)
    assert client.get(reverse("datasets:archive-export", args=[project.id])).status_code == 403


def test_import_previews_then_creates_the_project_in_the_current_workspace(owner, owner_client):  # type: ignore[no-untyped-def]
    source = tagged_project(owner)
    completed_iteration(source, owner=owner, publish_name="live")
    data = archive_bytes(source)
    assert 'data-testid="archive-import-link"' in owner_client.get(reverse("projects:project-list")).content.decode()

    url = reverse("datasets:archive-import")
    preview = owner_client.post(url, {"archive": ContentFile(data, name="trees.zip")})
    page = preview.content.decode()
    assert preview.status_code == 200 and 'data-testid="archive-confirm"' in page
    assert "<td>10</td>" in page and "arrive unpublished" in page  # 10 images; the publishing note
    token = re.search(r'name="token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    assert len(_pending()) == 1

    done = owner_client.post(url, {"token": token, "name": "Trees (copy)"})
    copy = source.workspace.projects.get(name="Trees (copy)")
    assert done.status_code == 302 and done["Location"] == reverse("projects:project-detail", args=[copy.id])
    assert copy.images.count() == 10 and copy.iterations.count() == 1
    assert _pending() == []  # the upload is deleted once imported
    again = owner_client.post(url, {"token": token}).content.decode()
    assert "gone" in again  # a token imports once


def test_a_bad_upload_is_refused_with_its_reason_and_not_kept(owner, owner_client):  # type: ignore[no-untyped-def]
    url = reverse("datasets:archive-import")
    page = owner_client.post(url, {"archive": ContentFile(b"hello", name="notes.zip")}).content.decode()
    assert "not a zip archive" in page and 'data-testid="archive-confirm"' not in page
    assert owner_client.post(url, {}).status_code == 200
    assert _pending() == []
    forged = owner_client.post(url, {"token": "x:y:z"}).content.decode()
    assert "expired" in forged


def test_a_preview_over_quota_shows_the_problem_and_no_confirm(owner, owner_client, settings):  # type: ignore[no-untyped-def]
    data = archive_bytes(tagged_project(owner, per_tag=2))
    settings.TAGSIGHT_MAX_IMAGES_PER_PROJECT = 2
    page = owner_client.post(reverse("datasets:archive-import"),
                             {"archive": ContentFile(data, name="t.zip")}).content.decode()
    assert "at most 2" in page and 'data-testid="archive-confirm"' not in page and _pending() == []


def test_a_preview_is_bound_to_its_workspace(owner, owner_client):  # type: ignore[no-untyped-def]
    from workspaces.access import SESSION_KEY
    from workspaces.services import workspace_create

    data = archive_bytes(tagged_project(owner, per_tag=1))
    page = owner_client.post(reverse("datasets:archive-import"),
                             {"archive": ContentFile(data, name="a.zip")})
    token = re.search(r'name="token" value="([^"]+)"', page.content.decode()).group(1)  # type: ignore[union-attr]
    other = workspace_create(name="Other", owner=owner)
    session = owner_client.session
    session[SESSION_KEY] = str(other.id)
    session.save()
    refused = owner_client.post(reverse("datasets:archive-import"), {"token": token}).content.decode()
    assert "another workspace" in refused and not other.projects.exists()
