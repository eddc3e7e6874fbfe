"""Fixtures for the labeling tests: a detection and a classification project with real uploaded images."""

from __future__ import annotations

import pytest

from projects.services import image_upload, project_create, tag_create
from tests.factories import make_image_bytes


def upload(project, color=(200, 30, 30), size=(64, 48)):  # type: ignore[no-untyped-def]
    result = image_upload(project=project, data=make_image_bytes(size=size, color=color), filename=f"{color}.png")
    assert result.status == "OK", result.message
    return result.image


@pytest.fixture
def detection(owner):  # type: ignore[no-untyped-def]
    return project_create(created_by=owner, name="Kitchen", project_type="detection")


@pytest.fixture
def fork(detection):  # type: ignore[no-untyped-def]
    return tag_create(project=detection, name="fork")


@pytest.fixture
def scissors(detection):  # type: ignore[no-untyped-def]
    return tag_create(project=detection, name="scissors")


@pytest.fixture
def image(detection):  # type: ignore[no-untyped-def]
    return upload(detection)


@pytest.fixture
def classification(owner):  # type: ignore[no-untyped-def]
    return project_create(created_by=owner, name="Trees", classification_type="Multiclass")
