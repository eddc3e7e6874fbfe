"""Training e-mails and webhooks in-process: the real services, the real Celery tasks run eagerly, and a real HTTP
receiver (tests/notifications/receiver.py) that checks each signature the way the README says."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from django.core import mail

from notifications import services, signing
from notifications.models import Delivery, Preference, Webhook
from tests.notifications.receiver import closed_port_url, readme_verify, webhook_receiver
from tests.training.builders import completed_iteration, tagged_project
from training import events
from training.models import Iteration

pytestmark = [pytest.mark.django_db]

ALL = list(events.EVENTS)


def _queued(project: Any, owner: Any, capture: Any, **kw: Any) -> Iteration:
    """An iteration queued by the real service; its Celery message is never sent (no worker here)."""
    from training.services import iteration_queue

    with capture(execute=False):
        return iteration_queue(project=project, requested_by=owner, force=True, **kw)


def _finish(iteration: Iteration, status: str, capture: Any, **fields: Any) -> bool:
    """What the worker does at the end of a training (training.services.iteration_finish), then its commit."""
    from training.services import iteration_finish

    metrics = {"overall": {"precision": 0.875, "recall": 0.75, "ap": 0.9123}, "per_tag": []}
    with capture(execute=True):
        return iteration_finish(iteration.id, status, **({"metrics": metrics} if status == "Completed" else {}),
                                **fields)


def test_a_completed_training_reaches_project_and_workspace_webhooks_signed(
    owner: Any, eager: None, local_hooks: Any, django_capture_on_commit_callbacks: Any
) -> None:
    project = tagged_project(owner)
    other = tagged_project(owner, name="Other")
    iteration = _queued(project, owner, django_capture_on_commit_callbacks)
    with webhook_receiver() as on_project, webhook_receiver() as on_workspace, webhook_receiver() as elsewhere:
        mine = services.webhook_create(url=on_project.url, events_chosen=ALL, project=project)
        team = services.webhook_create(url=on_workspace.url, events_chosen=["training.completed"],
                                       workspace=project.workspace)
        services.webhook_create(url=elsewhere.url, events_chosen=ALL, project=other)  # another project's
        services.webhook_create(url=elsewhere.url, events_chosen=["training.failed"], project=project)  # not this one
        paused = services.webhook_create(url=elsewhere.url, events_chosen=ALL, project=project)
        Webhook.objects.filter(id=paused.id).update(active=False)
        on_project.secret, on_workspace.secret = mine.secret, team.secret

        assert _finish(iteration, "Completed", django_capture_on_commit_callbacks)

    assert not elsewhere.received
    for receiver in (on_project, on_workspace):
        [got] = receiver.received
        assert got.signature_ok, got.headers  # the README's algorithm, with this webhook's secret
        assert got.headers["X-Tagsight-Event"] == "training.completed"
        assert got.headers["Content-Type"] == "application/json"
        body = got.json
        assert body["event"] == "training.completed" and body["id"]
        assert body["project"] == {"id": str(project.id), "name": project.name}
        assert body["workspace"]["id"] == str(project.workspace_id)
        assert body["iteration"]["id"] == str(iteration.id) and body["iteration"]["status"] == "Completed"
        assert body["iteration"]["figures"] == {"precision": 0.875, "recall": 0.75, "averagePrecision": 0.9123}
        assert body["iteration"]["url"] == f"https://tagsight.example.test/iterations/{iteration.id}/"
        delivery = Delivery.objects.get(id=got.headers["X-Tagsight-Delivery"])
        assert delivery.status == "delivered" and delivery.attempts == 1
        assert [a.status_code for a in delivery.attempt_log.all()] == [204]
    # Both carry the same event (one id), each its own delivery id and signature.
    assert on_project.received[0].json["id"] == on_workspace.received[0].json["id"]
    assert on_project.received[0].headers["X-Tagsight-Signature"] != on_workspace.received[0].headers[
        "X-Tagsight-Signature"]


def test_a_tampered_body_or_an_old_timestamp_fails_verification(
    owner: Any, eager: None, local_hooks: Any, django_capture_on_commit_callbacks: Any
) -> None:
    project = tagged_project(owner)
    with webhook_receiver() as receiver:
        hook = services.webhook_create(url=receiver.url, events_chosen=ALL, project=project)
        receiver.secret = hook.secret
        with django_capture_on_commit_callbacks(execute=True):
            services.webhook_test(webhook=hook)
    [got] = receiver.received
    assert got.signature_ok and got.json["event"] == "ping"
    ts, sig = got.headers["X-Tagsight-Timestamp"], got.headers["X-Tagsight-Signature"]
    assert signing.verify(secret=hook.secret, timestamp=ts, body=got.body, header=sig)
    assert not signing.verify(secret=hook.secret, timestamp=ts, body=got.body + b" ", header=sig)
    assert not signing.verify(secret="whsec_other", timestamp=ts, body=got.body, header=sig)
    assert not signing.verify(secret=hook.secret, timestamp=ts, body=got.body, header=sig, now=int(ts) + 301)
    old = str(int(time.time()) - 600)
    replayed = {**got.headers, "X-Tagsight-Timestamp": old,
                "X-Tagsight-Signature": signing.signature(secret=hook.secret, timestamp=old, body=got.body)}
    assert not readme_verify(hook.secret, replayed, got.body)


def test_a_receiver_that_is_down_gets_retries_then_a_failed_entry_and_training_still_completes(
    owner: Any, eager: None, local_hooks: Any, django_capture_on_commit_callbacks: Any
) -> None:
    local_hooks.TAGSIGHT_WEBHOOK_RETRY_SECONDS = 0.5  # stored delays: 0.5, 1.5 s (eager runs them at once)
    project = tagged_project(owner)
    iteration = _queued(project, owner, django_capture_on_commit_callbacks)
    hook = services.webhook_create(url=closed_port_url(), events_chosen=ALL, project=project)

    assert _finish(iteration, "Completed", django_capture_on_commit_callbacks)

    iteration.refresh_from_db()
    assert iteration.status == "Completed"
    [delivery] = Delivery.objects.filter(webhook=hook)
    assert delivery.status == "failed" and delivery.attempts == 3 and delivery.next_retry is None
    attempts = list(delivery.attempt_log.all())
    assert [a.number for a in attempts] == [1, 2, 3]
    assert all(a.status_code is None and "ConnectionRefusedError" in a.error for a in attempts), attempts[0].error
    waits = [(a.next_retry - a.at).total_seconds() for a in attempts[:2]]
    assert waits == pytest.approx([0.5, 1.5], abs=0.01)  # exponential: x3 each time
    assert attempts[2].next_retry is None


def test_a_500_is_retried_and_the_next_attempt_delivers(
    owner: Any, eager: None, local_hooks: Any, django_capture_on_commit_callbacks: Any
) -> None:
    project = tagged_project(owner)
    with webhook_receiver() as receiver:
        hook = services.webhook_create(url=receiver.url, events_chosen=ALL, project=project)
        receiver.secret, receiver.statuses = hook.secret, [500]
        with django_capture_on_commit_callbacks(execute=True):
            delivery = services.webhook_test(webhook=hook)
    delivery.refresh_from_db()
    assert [a.status_code for a in delivery.attempt_log.all()] == [500, 204]
    assert delivery.status == "delivered"
    first, second = receiver.received
    assert first.headers["X-Tagsight-Delivery"] == second.headers["X-Tagsight-Delivery"] == str(delivery.id)
    assert first.body == second.body and first.signature_ok and second.signature_ok


def test_publish_unpublish_and_export_ready_events(
    owner: Any, eager: None, local_hooks: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from predictions.models import Export
    from training.services import iteration_publish, iteration_unpublish

    project = tagged_project(owner)
    first = completed_iteration(project, owner=owner)
    second = completed_iteration(project, owner=owner)
    with webhook_receiver() as receiver:
        hook = services.webhook_create(url=receiver.url, events_chosen=["iteration.published",
                                       "iteration.unpublished", "export.ready"], project=project)
        receiver.secret = hook.secret
        with django_capture_on_commit_callbacks(execute=True):
            iteration_publish(iteration=first, publish_name="live")
        with django_capture_on_commit_callbacks(execute=True):
            iteration_publish(iteration=second, publish_name="live", overwrite=True)  # the name moves
        with django_capture_on_commit_callbacks(execute=True):
            iteration_unpublish(iteration=second)
        export = Export.objects.create(iteration=second, status="Done", file="x.zip", flavor="ONNX12")
        with django_capture_on_commit_callbacks(execute=True):
            events.emit(events.EXPORT_READY, iteration_id=second.id, export_id=export.id)  # as export_build does
    seen = [(r.json["event"], r.json["iteration"]["id"]) for r in receiver.received]
    assert seen == [("iteration.published", str(first.id)), ("iteration.unpublished", str(first.id)),
                    ("iteration.published", str(second.id)), ("iteration.unpublished", str(second.id)),
                    ("export.ready", str(second.id))]
    assert all(r.signature_ok for r in receiver.received)
    assert receiver.received[2].json["iteration"]["publishName"] == "live"
    assert receiver.received[4].json["export"] == {
        "id": str(export.id), "platform": "ONNX", "flavor": "ONNX12", "status": "Done",
        "downloadUrl": f"https://tagsight.example.test/exports/{export.id}/download"}


def test_the_training_email_goes_to_the_notification_address_and_opted_in_starter(
    owner: Any, eager: None, local_hooks: Any, django_capture_on_commit_callbacks: Any
) -> None:
    owner.email = "owner@example.com"
    owner.save()
    project = tagged_project(owner)
    iteration = _queued(project, owner, django_capture_on_commit_callbacks, notification_email="ops@example.com")
    Iteration.objects.filter(id=iteration.id).update(project_type="detection")  # its AP is then called mAP
    _finish(iteration, "Completed", django_capture_on_commit_callbacks)
    [sent] = mail.outbox
    assert sent.to == ["ops@example.com"]  # the owner did not opt in
    assert sent.subject == f"Tagsight: {iteration.name} of {project.name} completed"
    assert "Precision: 87.5 %" in sent.body and "Recall: 75.0 %" in sent.body and "mAP: 91.2 %" in sent.body
    assert f"https://tagsight.example.test/iterations/{iteration.id}/" in sent.body

    mail.outbox.clear()
    services.preference_set(user=owner, training_email=True)
    failing = _queued(project, owner, django_capture_on_commit_callbacks, notification_email="OWNER@example.com")
    _finish(failing, "Failed", django_capture_on_commit_callbacks, error="Not enough images", error_code="X")
    [sent] = mail.outbox
    assert sent.to == ["OWNER@example.com"]  # one address once, whatever its case
    assert "failed" in sent.subject and "Error: Not enough images" in sent.body


def test_no_one_to_tell_sends_nothing_and_a_cancel_is_never_announced(
    owner: Any, eager: None, local_hooks: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from training.services import iteration_cancel

    project = tagged_project(owner)
    Preference.objects.create(user=owner, training_email=True)  # opted in, but the user has no address
    hook = services.webhook_create(url=closed_port_url(), events_chosen=ALL, project=project)
    silent = _queued(project, owner, django_capture_on_commit_callbacks)
    _finish(silent, "Completed", django_capture_on_commit_callbacks)
    assert not mail.outbox
    owner.email = "owner@example.com"
    owner.save()
    cancelled = _queued(project, owner, django_capture_on_commit_callbacks, notification_email="ops@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        iteration_cancel(iteration=cancelled)
    assert not mail.outbox
    assert list(Delivery.objects.filter(webhook=hook).values_list("event", flat=True)) == ["training.completed"]


def test_a_failing_listener_never_fails_the_training(
    owner: Any, django_capture_on_commit_callbacks: Any
) -> None:
    calls: list[str] = []

    def broken(event: str, **refs: Any) -> None:
        calls.append(event)
        raise RuntimeError("mail server on fire")

    project = tagged_project(owner)
    iteration = _queued(project, owner, django_capture_on_commit_callbacks)
    events.listener_add(broken)
    try:
        assert _finish(iteration, "Completed", django_capture_on_commit_callbacks)
    finally:
        events._listeners.remove(broken)
    assert calls == ["training.completed"]
    iteration.refresh_from_db()
    assert iteration.status == "Completed"


@pytest.mark.parametrize("url", ["ftp://example.com/hook", "http://127.0.0.1:8000/hook", "http://10.1.2.3/hook",
                                 "http://localhost/hook", "http://[::1]/hook", "http://169.254.169.254/latest"])
def test_only_public_http_urls_unless_private_ones_are_allowed(owner: Any, url: str, settings: Any) -> None:
    project = tagged_project(owner)
    with pytest.raises(services.NotificationError):
        services.webhook_create(url=url, events_chosen=ALL, project=project)
    settings.TAGSIGHT_ALLOW_PRIVATE_URLS = True
    if url.startswith("http:"):
        assert services.webhook_create(url=url, events_chosen=ALL, project=project).url == url


def test_the_readme_verification_snippet_accepts_a_real_delivery(
    owner: Any, eager: None, local_hooks: Any, django_capture_on_commit_callbacks: Any
) -> None:
    """The README's 10 lines, run as written, against what a real receiver got."""
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    [snippet] = [b for b in re.findall(r"```python\n(.*?)```", readme, re.S) if "X-Tagsight-Signature" in b]
    namespace: dict[str, Any] = {}
    exec(snippet, namespace)  # noqa: S102 - our own README
    project = tagged_project(owner)
    with webhook_receiver() as receiver:
        hook = services.webhook_create(url=receiver.url, events_chosen=ALL, project=project)
        with django_capture_on_commit_callbacks(execute=True):
            services.webhook_test(webhook=hook)
    [got] = receiver.received
    assert namespace["verify"](hook.secret, got.headers, got.body)
    assert not namespace["verify"](hook.secret, got.headers, got.body.replace(b"ping", b"pong"))


def test_payload_is_compact_json_and_the_body_is_signed_as_sent(owner: Any) -> None:
    body = services.payloads.encode({"event": "x", "é": 1})
    assert json.loads(body) == {"event": "x", "é": 1} and ", " not in body
