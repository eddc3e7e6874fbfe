"""End to end on a REAL Celery worker (tests/worker.py): a training completes, and its e-mail (Django's filebased
backend, read back from the folder) and its signed webhook (checked by a real receiver) arrive; a receiver that is
down gets its retries and a failed entry without holding the training up."""

from __future__ import annotations

import email
from email import policy
from pathlib import Path
from typing import Any

import pytest

from tests.factories import DATASETS
from tests.notifications.receiver import closed_port_url, webhook_receiver
from tests.training.builders import dataset_project
from tests.worker import celery_worker, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

QUICKSTART = DATASETS / "azure-quickstart" / "classification"


def test_a_training_on_the_worker_sends_its_email_and_signed_webhook(owner: Any, tmp_path: Path, settings: Any) -> None:
    from notifications import services
    from notifications.models import Delivery
    from training.services import iteration_queue

    settings.TAGSIGHT_ALLOW_PRIVATE_URLS = True  # the receivers listen on 127.0.0.1
    owner.email = "owner@example.com"
    owner.save()
    services.preference_set(user=owner, training_email=True)
    project = dataset_project(owner, QUICKSTART, name="Trees")
    mail_dir = tmp_path / "mail"
    env = {"EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend", "EMAIL_FILE_PATH": str(mail_dir),
           "TAGSIGHT_ALLOW_PRIVATE_URLS": "true", "TAGSIGHT_PUBLIC_URL": "https://tagsight.example.test",
           "TAGSIGHT_WEBHOOK_ATTEMPTS": "3", "TAGSIGHT_WEBHOOK_RETRY_SECONDS": "0.5"}
    with webhook_receiver() as receiver:
        hook = services.webhook_create(url=receiver.url, events_chosen=["training.completed"], project=project)
        down = services.webhook_create(url=closed_port_url(), events_chosen=["training.completed"],
                                       workspace=project.workspace)
        receiver.secret = hook.secret
        with celery_worker(data_dir=tmp_path, hostname="w1", env=env) as worker:
            iteration = iteration_queue(project=project, requested_by=owner, notification_email="ops@example.com")
            wait_for(lambda: receiver.received, timeout=300, interval=0.5, describe=lambda: worker.log()[-3000:])
            iteration.refresh_from_db()
            assert iteration.status == "Completed", iteration.error  # the failing receiver held nothing up
            wait_for(lambda: list(mail_dir.glob("*.log")), timeout=60, describe=lambda: worker.log()[-3000:])
            failed = wait_for(lambda: Delivery.objects.filter(webhook=down, status="failed").first(), timeout=60,
                              describe=lambda: worker.log()[-3000:])

    [got] = receiver.received
    assert got.signature_ok, got.headers  # the README's algorithm with the webhook's secret
    body = got.json
    assert got.headers["X-Tagsight-Event"] == body["event"] == "training.completed"
    assert body["iteration"]["id"] == str(iteration.id) and body["iteration"]["status"] == "Completed"
    overall = iteration.metrics["overall"]
    assert body["iteration"]["figures"]["precision"] == round(overall["precision"], 4)
    assert body["iteration"]["url"] == f"https://tagsight.example.test/iterations/{iteration.id}/"

    [path] = mail_dir.glob("*.log")
    message = email.message_from_string(path.read_text(), policy=policy.default)
    assert sorted(message["To"].split(", ")) == ["ops@example.com", "owner@example.com"]
    assert message["Subject"] == f"Tagsight: {iteration.name} of Trees completed"
    text = message.get_content()
    assert f"Precision: {overall['precision'] * 100:.1f} %" in text
    assert f"https://tagsight.example.test/iterations/{iteration.id}/" in text

    attempts = list(failed.attempt_log.all())
    assert [a.number for a in attempts] == [1, 2, 3] and all(a.status_code is None for a in attempts)
    assert attempts[0].next_retry and attempts[1].next_retry and attempts[2].next_retry is None
