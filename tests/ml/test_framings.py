"""Framings (Landmarks' recipe): the whole frame keeps what the centre crop cuts off, and a two-framing classifier
predicts from the mean of both framings' embeddings, the same in its opset-18, -12 and -10 exports."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from training.ml import Predictor, TrainConfig, artifacts, export_onnx, train
from training.ml.embeddings import Embedder, preprocess_model
from training.ml.images import load_array
from training.ml.runtime import make_session

from .conftest import TAGS, photo_manifest, photos


def test_whole_frame_keeps_the_edges_the_centre_crop_cuts_off() -> None:
    image = np.zeros((40, 120, 3), dtype=np.uint8)
    image[:, :20] = 255  # a white band along the left edge of a wide image
    centre, whole = (make_session(preprocess_model(32, framing=f).SerializeToString()).run(None, {"image": image})[0]
                     for f in ("centre", "whole"))
    assert centre.shape == whole.shape == (1, 3, 32, 32)
    assert centre.max() == -1.0  # black only: the centred square never reaches the band
    assert whole[0, :, :, :4].min() > 0.9 and whole[0, :, :, -4:].max() == -1.0  # the band, stretched, on the left


def test_unknown_framing_is_refused() -> None:
    with pytest.raises(ValueError, match="framing"):
        preprocess_model(32, framing="letterbox")


def test_two_framing_classifier_predicts_from_the_mean_embedding_in_every_opset(
    tmp_path: Path, ml_cache: Path
) -> None:
    config = TrainConfig(cache_dir=str(ml_cache), framings=("centre", "whole"))
    result = train(photo_manifest(4), config, tmp_path / "run")
    assert result.metrics["framings"] == ["centre", "whole"]
    image = photos(TAGS[0])[15]
    array = load_array(image, image_size=224)
    mean = np.mean([Embedder("lite0", None, ml_cache, framing=f).embed([array])[0] for f in ("centre", "whole")], 0)
    model = artifacts.artifact_dir(result.artifact_path) / artifacts.MODEL_FILE
    probabilities, embedding = make_session(model).run(None, {"image": array})
    assert np.abs(embedding[0] - mean).max() < 1e-4
    assert np.allclose(probabilities, Predictor.load(result.artifact_path).probabilities(image).reshape(1, -1))
    for opset in (None, 12, 10):
        report = export_onnx(result.artifact_path, tmp_path / f"onnx{opset}", validation_images=[image], opset=opset)
        assert report["passed"], (opset, report)
