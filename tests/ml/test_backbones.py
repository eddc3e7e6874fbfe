"""Backbones: ImageNet checkpoints load offline and see a bee as a bee."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from training.ml.backbones import BACKBONES, create_backbone, preprocess_pil

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "datasets" / "hymenoptera"
BEE = DATA / "bees" / sorted(p.name for p in (DATA / "bees").iterdir())[0]
ANT = DATA / "ants" / sorted(p.name for p in (DATA / "ants").iterdir())[0]
IMAGENET_BEE, IMAGENET_ANT = 309, 310


@pytest.mark.parametrize("name", ["lite0", "lite2"])
def test_known_photos_get_their_imagenet_label(name: str) -> None:
    model = create_backbone(name)
    x = preprocess_pil([Image.open(BEE), Image.open(ANT)], model.image_size)
    with torch.inference_mode():
        labels = model(x).argmax(1).tolist()
    assert labels == [IMAGENET_BEE, IMAGENET_ANT]


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
