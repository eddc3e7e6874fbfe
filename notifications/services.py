"""Notifications: the training e-mail and webhooks (keyword-only services; raise NotificationError, never HTTP).

``on_event`` is the listener of ``training.events`` (wired in apps.py): on a finished training it queues the
e-mail when someone is to get it, and for every event one Delivery per active webhook that wants it, each sent
by the ``webhook_deliver`` task. Nothing here runs inside the training: it runs after its commit, in tasks.
"""

from __future__ import annotations

import http.client
import logging
import time
import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from notifications import payloads, signing
from notifications.models import Delivery, DeliveryAttempt, Preference, Webhook
from predictions.models import Export
from projects.fetch import FetchError, pinned_connection
from projects.models import Project
from training import events
from training.models import Iteration
from workspaces import audit
from workspaces.models import Workspace

logger = logging.getLogger(__name__)

PING = "ping"  # the "Send test event" button's event: sent whatever the webhook's events are
USER_AGENT = "Tagsight-Webhooks/1.0"


class NotificationError(Exception):
    pass


# ---------------------------------------------------------------------------------------------- the listener


def on_event(event: str, *, iteration_id: str, export_id: str | None = None) -> None:
    iteration = Iteration.objects.select_related("project__workspace", "requested_by").filter(id=iteration_id).first()
    if iteration is None:
        return
    if event in (events.TRAINING_COMPLETED, events.TRAINING_FAILED) and training_email_recipients(iteration=iteration):
        from notifications.tasks import training_email

        training_email.apply_async(args=[str(iteration.id)], queue="default")
    export = Export.objects.filter(id=export_id).first() if export_id else None
    hooks = [hook for hook in webhooks_for(project=iteration.project) if event in hook.events]
    if hooks:
        body = payloads.encode(payloads.payload(event, iteration=iteration, export=export))
        deliveries_queue(webhooks=hooks, event=event, body=body)


# ------------------------------------------------------------------------------------------------- e-mail


def preference_of(*, user: Any) -> Preference:
    return Preference.objects.filter(user=user).first() or Preference(user=user)


def preference_set(*, user: Any, training_email: bool) -> Preference:
    preference, _ = Preference.objects.update_or_create(user=user, defaults={"training_email": training_email})
    return preference


def training_email_recipients(*, iteration: Iteration) -> list[str]:
    """The training's notification address (Azure's notificationEmailAddress), and the user who started it when
    they asked for these e-mails on their account page; each address once."""
    found = [iteration.notification_email]
    user = iteration.requested_by
    if user is not None and user.email and Preference.objects.filter(user=user, training_email=True).exists():
        found.append(user.email)
    unique: dict[str, str] = {}
    for address in found:
        if address and address.strip():
            unique.setdefault(address.strip().lower(), address.strip())
    return list(unique.values())


def training_email_send(*, iteration_id: Any) -> int:
    """Send the training-finished e-mail (the Celery task's body); the number of recipients it went to."""
    iteration = Iteration.objects.select_related("project__workspace", "requested_by").filter(id=iteration_id).first()
    if iteration is None or iteration.status not in (Iteration.Status.COMPLETED, Iteration.Status.FAILED):
        return 0
    recipients = training_email_recipients(iteration=iteration)
    if not recipients:
        return 0
    subject, text = payloads.training_email(iteration)
    send_mail(subject, text, None, recipients)
    logger.info("training e-mail for iteration %s sent to %d recipient(s)", iteration.id, len(recipients))
    return len(recipients)


# ------------------------------------------------------------------------------------------------ webhooks


def webhooks_for(*, project: Project) -> list[Webhook]:
    """The active webhooks told about the project's events: its own and its workspace's."""
    return list(Webhook.objects.filter(Q(project=project) | Q(workspace_id=project.workspace_id), active=True))


def url_check(url: str) -> str:
    """An http(s) URL whose host is public (or any host with TAGSIGHT_ALLOW_PRIVATE_URLS); else NotificationError."""
    url = (url or "").strip()
    if len(url) > 500:
        raise NotificationError("A webhook URL has at most 500 characters.")
    try:
        pinned_connection(url, timeout=1.0)  # vets the scheme and the host's addresses; connects nowhere
    except FetchError as exc:
        message = exc.message.replace("fetched", "called").replace("refusing to fetch it", "webhooks cannot call it")
        raise NotificationError(message) from exc
    return url


def _events_check(chosen: list[str]) -> list[str]:
    chosen = [e for e in events.EVENTS if e in set(chosen)]
    if not chosen:
        raise NotificationError("Choose at least one event.")
    return chosen


def webhook_create(
    *, url: str, events_chosen: list[str], workspace: Workspace | None = None, project: Project | None = None,
    created_by: Any = None,
) -> Webhook:
    if (workspace is None) == (project is None):
        raise ValueError("A webhook belongs to a workspace or to a project.")
    url, chosen = url_check(url), _events_check(events_chosen)
    with transaction.atomic():
        hook = Webhook.objects.create(url=url, events=chosen, workspace=workspace, project=project,
                                      created_by=created_by)
        _record(hook, "webhook.create")
    return hook


def webhook_update(*, webhook: Webhook, url: str, events_chosen: list[str], active: bool) -> Webhook:
    webhook.url, webhook.events, webhook.active = url_check(url), _events_check(events_chosen), active
    with transaction.atomic():
        webhook.save(update_fields=["url", "events", "active"])
        _record(webhook, "webhook.update")
    return webhook


def webhook_secret_roll(*, webhook: Webhook) -> Webhook:
    from notifications.models import new_secret

    webhook.secret = new_secret()
    with transaction.atomic():
        webhook.save(update_fields=["secret"])
        _record(webhook, "webhook.secret")
    return webhook


def webhook_delete(*, webhook: Webhook) -> None:
    with transaction.atomic():
        _record(webhook, "webhook.delete")
        webhook.delete()


def _record(webhook: Webhook, action: str) -> None:
    project = webhook.project
    audit.record(workspace_id=webhook.owner_workspace_id, action=action, project=project, url=webhook.url)


def webhook_test(*, webhook: Webhook) -> Delivery:
    """Queue a ``ping`` to the webhook (the page's "Send test event")."""
    project = webhook.project
    workspace = project.workspace if project is not None else webhook.workspace
    assert workspace is not None
    body = {
        "event": PING,
        "id": str(uuid.uuid4()),
        "created": timezone.now().isoformat(),
        "workspace": {"id": str(workspace.id), "name": workspace.name},
        "project": {"id": str(project.id), "name": project.name} if project is not None else None,
        "webhook": {"id": str(webhook.id), "events": webhook.events},
    }
    return deliveries_queue(webhooks=[webhook], event=PING, body=payloads.encode(body))[0]


def deliveries_queue(*, webhooks: list[Webhook], event: str, body: str) -> list[Delivery]:
    with transaction.atomic():
        made = [Delivery.objects.create(webhook=hook, event=event, body=body) for hook in webhooks]
        for delivery in made:
            transaction.on_commit(lambda d=delivery: _schedule(delivery_id=d.id, countdown=0))  # type: ignore[misc]
    return made


def _schedule(*, delivery_id: uuid.UUID, countdown: float) -> None:
    from notifications.tasks import webhook_deliver

    webhook_deliver.apply_async(args=[str(delivery_id)], countdown=countdown or None, queue="default")


def retry_delay(attempt: int) -> float:
    """Seconds to wait after failed attempt ``attempt`` (1-based): base, 3x base, 9x base, ..."""
    return float(settings.TAGSIGHT_WEBHOOK_RETRY_SECONDS) * float(3 ** (attempt - 1))


def delivery_attempt(*, delivery_id: Any) -> DeliveryAttempt | None:
    """One attempt at a pending delivery (the Celery task's body): POST the body, signed now; on failure queue
    the next attempt after retry_delay, or mark it Failed after TAGSIGHT_WEBHOOK_ATTEMPTS. Never raises."""
    delivery = Delivery.objects.select_related("webhook").filter(id=delivery_id).first()
    if delivery is None or delivery.status != Delivery.Status.PENDING:
        return None
    number = delivery.attempts + 1
    started, at = time.monotonic(), timezone.now()
    status_code, error = _post(webhook=delivery.webhook, delivery=delivery)
    duration_ms = int((time.monotonic() - started) * 1000)
    ok = status_code is not None and 200 <= status_code < 300
    if ok:
        status, next_retry = Delivery.Status.DELIVERED, None
    elif number < settings.TAGSIGHT_WEBHOOK_ATTEMPTS:
        status, next_retry = Delivery.Status.PENDING, at + timedelta(seconds=retry_delay(number))
    else:
        status, next_retry = Delivery.Status.FAILED, None
    with transaction.atomic():
        attempt = DeliveryAttempt.objects.create(delivery=delivery, number=number, at=at, status_code=status_code,
                                                 error=error[:500], duration_ms=duration_ms, next_retry=next_retry)
        Delivery.objects.filter(id=delivery.id).update(status=status, attempts=number, next_retry=next_retry)
        if next_retry is not None:
            countdown = retry_delay(number)
            transaction.on_commit(lambda: _schedule(delivery_id=delivery.id, countdown=countdown))
    log = logger.info if ok else logger.warning
    log("webhook delivery %s (%s) attempt %d: %s", delivery.id, delivery.event, number, status_code or error)
    return attempt


def headers_for(*, webhook: Webhook, delivery: Delivery, body: bytes, timestamp: int) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Tagsight-Event": delivery.event,
        "X-Tagsight-Delivery": str(delivery.id),
        "X-Tagsight-Timestamp": str(timestamp),
        "X-Tagsight-Signature": signing.signature(secret=webhook.secret, timestamp=timestamp, body=body),
    }


def _post(*, webhook: Webhook, delivery: Delivery) -> tuple[int | None, str]:
    """(HTTP status, "") or (None, the error). Redirects are not followed: a 3xx is a failed attempt."""
    body = delivery.body.encode()
    headers = headers_for(webhook=webhook, delivery=delivery, body=body, timestamp=int(time.time()))
    try:
        conn, path = pinned_connection(webhook.url, timeout=float(settings.TAGSIGHT_WEBHOOK_TIMEOUT_SECONDS))
    except FetchError as exc:
        return None, exc.message
    try:
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        response.read(64 * 1024)
        return response.status, "" if 200 <= response.status < 300 else f"HTTP {response.status} {response.reason}"
    except (OSError, http.client.HTTPException) as exc:
        return None, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    finally:
        conn.close()
