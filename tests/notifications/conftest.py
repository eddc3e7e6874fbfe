"""Fixtures of the notification tests: Celery tasks run in-process (eager), webhooks may call 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.workspaces.conftest import member_client, team  # noqa: F401 - the team personas, reused


@pytest.fixture
def eager() -> Iterator[None]:
    """Celery runs each task at once in this process (a retry's countdown included), errors raised."""
    from portal.celery import app

    saved = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager, app.conf.task_eager_propagates = True, True
    try:
        yield
    finally:
        app.conf.task_always_eager, app.conf.task_eager_propagates = saved


@pytest.fixture
def local_hooks(settings: Any) -> Any:
    """The receivers run on 127.0.0.1: let webhooks reach private hosts, retry fast, and give links a base URL."""
    settings.TAGSIGHT_ALLOW_PRIVATE_URLS = True
    settings.TAGSIGHT_WEBHOOK_ATTEMPTS = 3
    settings.TAGSIGHT_WEBHOOK_RETRY_SECONDS = 0.01
    settings.TAGSIGHT_PUBLIC_URL = "https://tagsight.example.test"
    return settings
