"""Fixtures for the Azure contract tests: users with keys, and a client that speaks the API's way."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

TRAINING = "/customvision/v3.4-preview/training"
PREDICTION = "/customvision/v3.1/prediction"


class Api:
    """The Django test client with the key headers the SDKs send."""

    def __init__(self, training_key: str, prediction_key: str) -> None:
        self.client = Client()
        self.training_key = training_key
        self.prediction_key = prediction_key

    def _headers(self, prediction: bool) -> dict[str, str]:
        if prediction:
            return {"HTTP_PREDICTION_KEY": self.prediction_key}
        return {"HTTP_TRAINING_KEY": self.training_key}

    def call(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        data: Any = None,
        content_type: str = "application/json",
        prediction: bool = False,
        **extra: Any,
    ) -> Any:
        base = PREDICTION if prediction else TRAINING
        url = path if path.startswith("/") and path.startswith("/customvision") else base + path
        body = json.dumps(json_body) if json_body is not None else (data if data is not None else b"")
        return getattr(self.client, method.lower())(
            url, data=body, content_type=content_type, **self._headers(prediction), **extra
        )

    def get(self, path: str, **kw: Any) -> Any:
        return self.call("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Any:
        return self.call("POST", path, **kw)

    def patch(self, path: str, **kw: Any) -> Any:
        return self.call("PATCH", path, **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        return self.call("DELETE", path, **kw)


def _api_for(user: Any) -> Api:
    from workspaces.services import personal_keys

    keys = personal_keys(user=user)
    return Api(keys.training_key, keys.prediction_key)


@pytest.fixture
def api(owner) -> Api:  # type: ignore[no-untyped-def]
    return _api_for(owner)


@pytest.fixture
def stranger_api(stranger) -> Api:  # type: ignore[no-untyped-def]
    return _api_for(stranger)


@pytest.fixture
def bad_api() -> Api:
    return Api("not-a-real-key", "not-a-real-key")


@pytest.fixture
def project(owner):  # type: ignore[no-untyped-def]
    from projects.services import project_create

    return project_create(created_by=owner, name="Trees")


@pytest.fixture
def od_project(owner):  # type: ignore[no-untyped-def]
    from projects.services import project_create

    return project_create(created_by=owner, name="Forks", domain_id="da2e3a8a-40a5-4171-82f4-58522f70fbc1")


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):  # type: ignore[no-untyped-def]
    """The personas are created with passwords; PBKDF2 would dominate these many small tests."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
