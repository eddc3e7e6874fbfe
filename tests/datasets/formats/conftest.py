"""The format tests sign nobody in with a password (clients use force_login): an owner without one skips the
password hashing that makes the shared fixture cost seconds per test."""

from __future__ import annotations

import pytest


@pytest.fixture
def owner(django_user_model):  # type: ignore[no-untyped-def]
    return django_user_model.objects.create(username="owner")
