"""Browser: an Owner opens a webhook's page after a test event and a training, and reads the delivery log."""

from __future__ import annotations

from typing import Any

import pytest

from tests.notifications.receiver import closed_port_url, webhook_receiver
from tests.training.builders import completed_iteration, tagged_project

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_webhook_page_shows_its_delivery_log(
    live_server: Any, page: Any, login_as: Any, owner: Any, screenshot: Any, settings: Any
) -> None:
    from notifications import services
    from notifications.models import Webhook
    from portal.celery import app
    from training import events

    settings.TAGSIGHT_ALLOW_PRIVATE_URLS = True
    settings.TAGSIGHT_WEBHOOK_ATTEMPTS = 3
    settings.TAGSIGHT_WEBHOOK_RETRY_SECONDS = 0.01
    project = tagged_project(owner, name="Kitchen forks")
    iteration = completed_iteration(project, owner=owner)
    saved = app.conf.task_always_eager
    app.conf.task_always_eager = True  # deliveries run here, at once
    try:
        with webhook_receiver() as receiver:
            hook = services.webhook_create(url=receiver.url, events_chosen=["training.completed"], project=project)
            services.webhook_test(webhook=hook)
            events.emit(events.TRAINING_COMPLETED, iteration_id=iteration.id)
            Webhook.objects.filter(id=hook.id).update(url=closed_port_url())  # the receiver goes away
            events.emit(events.TRAINING_COMPLETED, iteration_id=iteration.id)
    finally:
        app.conf.task_always_eager = saved
    login_as(owner)
    page.goto(f"{live_server.url}/webhooks/{hook.id}/")
    log = page.get_by_test_id("deliveries")
    assert log.locator("tbody tr").count() == 3
    text = log.inner_text()
    assert text.count("Delivered") == 2 and "Failed" in text and "HTTP 204" in text
    assert "ConnectionRefusedError" in text and "retry at" in text
    assert page.get_by_test_id("send-test").is_visible()
    screenshot("webhook-deliveries")
