"""Fixtures for the ML engine tests: a shared embedding/trunk cache and small real manifests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.factories import DATASETS
from training.ml import Manifest, Sample

# Two whole-photo classes in the repository: the Azure quickstart's 20 forks and 20 scissors (MIT).
PHOTOS = DATASETS / "azure-quickstart" / "detection"
TAGS = ("fork", "scissors")


def photos(tag: str) -> list[Path]:
    """The photos of one of :data:`TAGS`, in a fixed order (the first 8 make up ``tiny_manifest``)."""
    return sorted((PHOTOS / tag).glob("*.jpg"))


@pytest.fixture(scope="session")
def ml_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache per test session, so the ONNX trunk is exported once."""
    return tmp_path_factory.mktemp("ml-cache")


def photo_manifest(per_tag: int) -> Manifest:
    """The first ``per_tag`` forks and scissors, with absolute paths."""
    samples = []
    for tag in TAGS:
        for p in photos(tag)[:per_tag]:
            samples.append(Sample(id=f"{tag}/{p.name}", path=str(p), tags=(tag,)))
    return Manifest(task="classification", tags=TAGS, samples=tuple(samples), name="tiny")


@pytest.fixture
def tiny_manifest() -> Manifest:
    return photo_manifest(8)
