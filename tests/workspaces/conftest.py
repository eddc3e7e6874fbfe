"""Personas of a team workspace: its Owner (the ``owner`` persona), and a member of each other role."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client


@pytest.fixture
def team(owner):  # type: ignore[no-untyped-def]
    from workspaces.services import workspace_create

    return workspace_create(name="Forestry", owner=owner)


@pytest.fixture
def member_client(team, django_user_model) -> Callable[[str], tuple[Any, Client]]:  # type: ignore[no-untyped-def]
    """``member_client("viewer")``: a new user with that role in ``team``, and a client signed in as them."""
    from workspaces.services import member_add

    def make(role: str, username: str | None = None) -> tuple[Any, Client]:
        user = django_user_model.objects.create_user(username=username or role, password=f"{role}-pass-123",
                                                     email=f"{username or role}@example.com")
        member_add(workspace=team, user=user, role=role)
        client = Client()
        client.force_login(user)
        return user, client

    return make
