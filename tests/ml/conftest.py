"""Fixtures for the ML engine tests: a shared embedding/trunk cache and small real manifests."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.ml import Manifest, Sample

DATASETS = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"
HYMENOPTERA = DATASETS / "hymenoptera"


@pytest.fixture(scope="session")
def ml_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache per test session, so the ONNX trunk is exported once."""
    return tmp_path_factory.mktemp("ml-cache")


def hymenoptera_manifest(per_tag: int) -> Manifest:
    """The first ``per_tag`` ants and bees, with absolute paths."""
    samples = []
    for tag in ("ants", "bees"):
        for p in sorted((HYMENOPTERA / tag).iterdir())[:per_tag]:
            samples.append(Sample(id=f"{tag}/{p.name}", path=str(p), tags=(tag,)))
    return Manifest(task="classification", tags=("ants", "bees"), samples=tuple(samples), name="tiny")


@pytest.fixture
def tiny_manifest() -> Manifest:
    return hymenoptera_manifest(8)
