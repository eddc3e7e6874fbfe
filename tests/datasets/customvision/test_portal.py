"""The portal's "Import from Custom Vision": projects list -> endpoint + key -> the projects found -> pick ->
progress -> report. The job runs here through the service the worker runs (the real worker, killed and resumed,
is tests/datasets/customvision/test_resume.py)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.datasets.customvision.checks import assert_imported
from tests.datasets.customvision.conftest import free_port

pytestmark = pytest.mark.django_db

CONNECT = "/import/customvision/"


def test_projects_list_leads_to_the_import(owner_client):  # type: ignore[no-untyped-def]
    page = owner_client.get(reverse("projects:project-list")).content.decode()
    assert f'href="{CONNECT}"' in page and "Import from Custom Vision" in page


def test_bad_endpoint_or_key_is_said_on_the_form_and_nothing_is_kept(source, owner_client):  # type: ignore[no-untyped-def]
    from datasets.customvision.models import ImportJob

    cases = [(source.endpoint, "wrong-key", "training key was refused"),
             (f"http://127.0.0.1:{free_port()}", source.training_key, "Cannot reach"),
             (source.endpoint + "/elsewhere", source.training_key, "has no Custom Vision Training API"),
             ("not a url", source.training_key, "Enter a valid URL")]
    for endpoint, key, message in cases:
        response = owner_client.post(CONNECT, {"endpoint": endpoint, "training_key": key})
        assert response.status_code == 200
        assert message in response.content.decode()
        assert key not in response.content.decode()  # a password field is never sent back
    assert not ImportJob.objects.exists()


def test_portal_import_with_progress_and_report(source, owner_client, owner):  # type: ignore[no-untyped-def]
    from datasets.customvision import services
    from datasets.customvision.models import ImportJob
    from workspaces.services import personal_workspace_ensure

    response = owner_client.post(CONNECT, {"endpoint": source.endpoint + "/", "training_key": source.training_key})
    assert response.status_code == 302
    job = ImportJob.objects.get()
    page = owner_client.get(response["Location"]).content.decode()
    for project in source.projects:  # listed with their image counts
        assert project.name.replace("&", "&amp;") in page
        assert f'<td class="num">{len(project.images)}</td>' in page
    assert "Object detection" in page and "Multilabel" in page

    assert "Pick at least one" in owner_client.post(response["Location"], {}).content.decode()
    response = owner_client.post(response["Location"], {"projects": [source.classification.id]})
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.status == "queued" and job.images_total == len(source.classification.images)
    # The same project cannot be imported twice at once into one workspace.
    second = owner_client.post(CONNECT, {"endpoint": source.endpoint, "training_key": source.training_key})
    refused = owner_client.post(second["Location"], {"projects": [source.classification.id]}).content.decode()
    assert "is being imported into this workspace already" in refused

    progress = owner_client.get(response["Location"], HTTP_HX_REQUEST="true")
    assert progress.status_code == 200 and 'hx-trigger="every 1s"' in progress.content.decode()

    services.import_run(job_id=job.pk, worker_hostname="")  # what the worker's task does
    done = owner_client.get(response["Location"], HTTP_HX_REQUEST="true")
    assert done.status_code == 286  # htmx: stop polling
    report = done.content.decode()
    assert "Iterations are not carried" in report
    assert f"{len(source.classification.images)} images imported" in report
    assert_imported(personal_workspace_ensure(user=owner), source.classification)
    job.refresh_from_db()
    assert job.training_key == "" and job.status == "completed"


def test_viewers_cannot_import(source, owner, django_user_model, client):  # type: ignore[no-untyped-def]
    from workspaces.services import member_add, workspace_create

    team = workspace_create(name="Team", owner=owner)
    viewer = django_user_model.objects.create_user(username="viewer")
    member_add(workspace=team, user=viewer, role="viewer")
    client.force_login(viewer)
    client.post(reverse("workspaces:switch", args=[team.id]))
    assert "Import from Custom Vision" not in client.get(reverse("projects:project-list")).content.decode()
    assert client.get(CONNECT).status_code == 403


def test_only_who_entered_the_key_picks_and_starts(source, owner, owner_client, django_user_model, client):  # type: ignore[no-untyped-def]
    from datasets.customvision.models import ImportJob
    from workspaces.services import member_add, workspace_create

    team = workspace_create(name="Team", owner=owner)
    owner_client.post(reverse("workspaces:switch", args=[team.id]))
    page = owner_client.post(CONNECT, {"endpoint": source.endpoint, "training_key": source.training_key})["Location"]
    trainer = django_user_model.objects.create_user(username="trainer")
    member_add(workspace=team, user=trainer, role="trainer")
    client.force_login(trainer)
    seen = client.post(page, {"projects": [source.detection.id]}).content.decode()
    assert "owner is picking the projects" in seen and 'name="projects"' not in seen
    assert ImportJob.objects.get().status == "found"
