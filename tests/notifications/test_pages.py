"""The Webhooks pages and the account page's e-mail choice, through Django's test client."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from notifications.models import Delivery, Preference, Webhook
from tests.notifications.receiver import webhook_receiver
from tests.training.builders import tagged_project
from workspaces.models import AuditEntry

pytestmark = [pytest.mark.django_db]

EVENTS = ["training.completed", "training.failed", "export.ready"]


def test_an_owner_adds_a_workspace_webhook_and_sees_its_secret_once(
    owner: Any, owner_client: Any, team: Any, local_hooks: Any
) -> None:
    url = reverse("notifications:workspace-webhooks", args=[team.id])
    assert "No webhooks yet." in owner_client.get(url).content.decode()
    response = owner_client.post(url, {"url": "http://127.0.0.1:9/hook", "events": EVENTS, "active": "on"})
    hook = Webhook.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("notifications:webhook-detail",
                                                                             args=[hook.id])
    assert hook.workspace_id == team.id and hook.project_id is None and hook.events == EVENTS and hook.active
    assert hook.secret.startswith("whsec_") and len(hook.secret) > 40
    first = owner_client.get(response["Location"]).content.decode()
    assert hook.secret in first and "shown only this once" in first
    assert hook.secret not in owner_client.get(response["Location"]).content.decode()
    assert hook.url in owner_client.get(url).content.decode()
    assert AuditEntry.objects.filter(workspace=team, action="webhook.create").exists()

    # Regenerating shows the new secret once; the old one is gone.
    old = hook.secret
    owner_client.post(reverse("notifications:webhook-secret", args=[hook.id]))
    hook.refresh_from_db()
    assert hook.secret != old and hook.secret in owner_client.get(response["Location"]).content.decode()


@pytest.mark.parametrize(("url", "says"), [
    ("ftp://example.com/hook", "Only http and https URLs can be called"),
    ("not a url at all", "Enter a valid URL"),
    ("http://127.0.0.1:8000/hook", "non-public address"),
    ("http://10.0.0.7/hook", "non-public address"),
])
def test_bad_and_private_urls_are_refused_with_a_reason(owner_client: Any, team: Any, url: str, says: str) -> None:
    response = owner_client.post(reverse("notifications:workspace-webhooks", args=[team.id]),
                                 {"url": url, "events": EVENTS})
    assert response.status_code == 200
    assert says in response.content.decode()
    assert not Webhook.objects.exists()


def test_no_event_chosen_is_refused(owner_client: Any, team: Any, local_hooks: Any) -> None:
    response = owner_client.post(reverse("notifications:workspace-webhooks", args=[team.id]),
                                 {"url": "http://127.0.0.1:9/hook"})
    assert response.status_code == 200 and "This field is required" in response.content.decode()
    assert not Webhook.objects.exists()


def test_only_owners_manage_webhooks_and_strangers_get_404(
    owner: Any, team: Any, member_client: Any, stranger_client: Any, local_hooks: Any
) -> None:
    from notifications import services

    project = tagged_project(owner, workspace=team)
    hook = services.webhook_create(url="http://127.0.0.1:9/h", events_chosen=EVENTS, project=project)
    pages = [reverse("notifications:workspace-webhooks", args=[team.id]),
             reverse("notifications:project-webhooks", args=[project.id]),
             reverse("notifications:webhook-detail", args=[hook.id])]
    actions = [reverse(f"notifications:webhook-{a}", args=[hook.id]) for a in ("test", "secret", "delete")]
    _, trainer = member_client("trainer")
    for path in pages:
        assert trainer.get(path).status_code == 403
        assert stranger_client.get(path).status_code == 404
    for path in [*pages, *actions]:
        assert trainer.post(path, {"url": "http://127.0.0.1:9/x", "events": EVENTS}).status_code == 403
        assert stranger_client.post(path, {"url": "http://127.0.0.1:9/x", "events": EVENTS}).status_code == 404
    assert Webhook.objects.get().secret == hook.secret and not Delivery.objects.exists()


def test_a_project_webhook_follows_its_project_to_another_workspace(
    owner: Any, owner_client: Any, team: Any, local_hooks: Any
) -> None:
    project = tagged_project(owner, workspace=team)
    response = owner_client.post(reverse("notifications:project-webhooks", args=[project.id]),
                                 {"url": "http://127.0.0.1:9/hook", "events": EVENTS})
    hook = Webhook.objects.get(project=project)
    assert response.status_code == 302
    assert Webhook.objects.filter(id=hook.id).values_list("scope_workspace_id", flat=True).get() == team.id
    detail = owner_client.get(reverse("notifications:webhook-detail", args=[hook.id])).content.decode()
    assert f"Events of project {project.name}" in detail


def test_send_test_event_delivers_and_the_log_shows_it(
    owner: Any, owner_client: Any, team: Any, eager: None, local_hooks: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from notifications import services

    with webhook_receiver() as receiver:
        hook = services.webhook_create(url=receiver.url, events_chosen=EVENTS, workspace=team)
        receiver.secret = hook.secret
        with django_capture_on_commit_callbacks(execute=True):
            response = owner_client.post(reverse("notifications:webhook-test", args=[hook.id]))
    assert response.status_code == 302
    [got] = receiver.received
    assert got.signature_ok and got.json["event"] == "ping" and got.json["workspace"]["id"] == str(team.id)
    page = owner_client.get(response["Location"]).content.decode()
    assert "Delivered" in page and "HTTP 204" in page and got.headers["X-Tagsight-Delivery"] in page


def test_an_owner_changes_pauses_and_deletes_a_webhook(
    owner: Any, owner_client: Any, team: Any, local_hooks: Any
) -> None:
    from notifications import services

    hook = services.webhook_create(url="http://127.0.0.1:9/h", events_chosen=EVENTS, workspace=team)
    detail = reverse("notifications:webhook-detail", args=[hook.id])
    response = owner_client.post(detail, {"url": "http://127.0.0.1:9/other", "events": ["export.ready"]})
    assert response.status_code == 302
    hook.refresh_from_db()
    assert hook.url == "http://127.0.0.1:9/other" and hook.events == ["export.ready"] and not hook.active
    refused = owner_client.post(detail, {"url": "ftp://example.com/", "events": EVENTS})
    assert refused.status_code == 200 and "Only http and https" in refused.content.decode()
    response = owner_client.post(reverse("notifications:webhook-delete", args=[hook.id]))
    assert response["Location"] == reverse("notifications:workspace-webhooks", args=[team.id])
    assert not Webhook.objects.exists()


def test_the_account_page_keeps_the_training_email_choice(owner: Any, owner_client: Any) -> None:
    page = owner_client.get(reverse("account")).content.decode()
    assert "E-mail me when a training I started finishes" in page and "checked" not in page
    response = owner_client.post(reverse("notifications:preferences"), {"training_email": "on"})
    assert response.status_code == 302 and Preference.objects.get(user=owner).training_email
    assert "checked" in owner_client.get(reverse("account")).content.decode()
    owner_client.post(reverse("notifications:preferences"), {})
    assert not Preference.objects.get(user=owner).training_email
