"""Shared fixtures: personas (owner, stranger) with logged-in clients, per-test media and data dirs."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.test import Client


def pytest_configure(config: pytest.Config) -> None:
    # The file-based SQLite test database (see settings) lives under the data dir: make sure it exists.
    from django.conf import settings

    Path(settings.DATA_DIR).mkdir(parents=True, exist_ok=True)


@pytest.fixture(autouse=True)
def _isolated_storage(settings, tmp_path):  # type: ignore[no-untyped-def]
    """Each test writes media under its own tmp dir; static files need no collectstatic."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def owner(django_user_model):  # type: ignore[no-untyped-def]
    return django_user_model.objects.create_user(username="owner", password="owner-pass-123")


@pytest.fixture
def stranger(django_user_model):  # type: ignore[no-untyped-def]
    return django_user_model.objects.create_user(username="stranger", password="stranger-pass-123")


@pytest.fixture
def owner_client(owner) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(owner)
    return client


@pytest.fixture
def stranger_client(stranger) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(stranger)
    return client
