"""Backbones: ImageNet checkpoints load offline and see a bee as a bee."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from tests.factories import DATASETS, shared_path
from training.ml.backbones import BACKBONES, create_backbone, preprocess_pil

IMAGENET_BEE, IMAGENET_ANT, IMAGENET_SPATULA = 309, 310, 813


def _imagenet_labels(name: str, photos: list[Path]) -> list[int]:
    model = create_backbone(name)
    x = preprocess_pil([Image.open(p) for p in photos], model.image_size)
    with torch.inference_mode():
        return model(x).argmax(1).tolist()


@pytest.mark.parametrize("name", ["lite0", "lite2"])
def test_known_photos_get_their_imagenet_label(name: str) -> None:
    data = shared_path("datasets", "hymenoptera")  # ImageNet photos: not redistributable, so not in the repository
    photos = [sorted((data / tag).iterdir())[0] for tag in ("bees", "ants")]
    assert _imagenet_labels(name, photos) == [IMAGENET_BEE, IMAGENET_ANT]


@pytest.mark.parametrize("name", ["lite0", "lite2"])
def test_a_fork_gets_the_nearest_imagenet_label(name: str) -> None:
    """ImageNet has no "fork": its nearest class, "spatula", is what a correctly loaded checkpoint says."""
    forks = DATASETS / "azure-quickstart" / "detection" / "fork"
    assert _imagenet_labels(name, [forks / "fork_1.jpg", forks / "fork_2.jpg"]) == [IMAGENET_SPATULA] * 2


def test_forward_stages_gives_strides_8_16_32() -> None:
    spec = BACKBONES["lite0"]
    model = create_backbone("lite0", image_size=320, pretrained=False)
    with torch.inference_mode():
        stages = model.forward_stages(torch.zeros(1, 3, 320, 320))
        features = model.forward_features(torch.zeros(1, 3, 320, 320))
    assert [tuple(s.shape[1:]) for s in stages] == [
        (spec.stage_channels[0], 40, 40),
        (spec.stage_channels[1], 20, 20),
        (spec.stage_channels[2], 10, 10),
    ]
    assert tuple(features.shape) == (1, spec.num_features, 10, 10)
