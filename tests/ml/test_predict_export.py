"""Predictor and export: thread-safe prediction, ONNX parity, standalone predict.py, CLI."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from PIL import Image

from training.ml import Predictor, TrainConfig, export_onnx, train
from training.ml.__main__ import main
from training.ml.backbones import create_backbone
from training.ml.export import load_standalone
from training.ml.images import load_array

from .conftest import TAGS, photos


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory, ml_cache: Path) -> str:
    from .conftest import photo_manifest

    result = train(photo_manifest(6), TrainConfig(cache_dir=str(ml_cache)), tmp_path_factory.mktemp("run"))
    return result.artifact_path


def _images(n: int) -> list[Path]:
    return photos(TAGS[1])[14 : 14 + n] + photos(TAGS[0])[14 : 14 + n]


def test_predictor_is_thread_safe(artifact: str) -> None:
    predictor = Predictor.load(artifact)
    images = _images(4) * 3
    expected = predictor.predict_many(images)
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(predictor.predict, images)) == expected


def test_graph_matches_eager_torch_backbone_and_head(artifact: str) -> None:
    """The composed ONNX graph computes the same embedding and probabilities as torch."""
    predictor = Predictor.load(artifact)
    image = load_array(_images(1)[0], image_size=224)
    session = ort.InferenceSession(str(Path(artifact) / "model.onnx"), providers=["CPUExecutionProvider"])
    probs, embedding = session.run(["probabilities", "embedding"], {"image": image})
    from training.ml.embeddings import preprocess_model
    from training.ml.runtime import make_session

    pixels = make_session(preprocess_model(224).SerializeToString()).run(None, {"image": image})[0]
    with torch.inference_mode():
        ref = create_backbone("lite0").forward_pooled(torch.from_numpy(pixels)).numpy()
    assert np.abs(ref - embedding).max() < 1e-3
    assert np.abs(predictor.probabilities(_images(1)[0]) - probs[0]).max() < 1e-6


def test_export_has_parity_and_a_standalone_predict_script(artifact: str, tmp_path: Path) -> None:
    report = export_onnx(artifact, tmp_path / "export", validation_images=_images(3))
    assert report["passed"] and report["images"] == 6 and report["max_abs_diff"] <= 1e-4
    out = tmp_path / "export"
    assert {"model.onnx", "labels.txt", "metadata.json", "predict.py", "parity.json"} <= {p.name for p in out.iterdir()}
    assert (out / "labels.txt").read_text().split("\n")[:2] == list(TAGS)
    run = subprocess.run(
        [sys.executable, str(out / "predict.py"), str(_images(1)[0])], capture_output=True, text=True, check=True
    )
    standalone = json.loads(run.stdout)[0]["predictions"]
    ours = Predictor.load(artifact).predict(_images(1)[0])
    assert [p["tag"] for p in standalone] == [p.tag for p in ours]
    assert abs(standalone[0]["probability"] - ours[0].probability) <= 1e-4


def test_a_model_decodes_big_jpegs_at_the_draft_factor_it_was_trained_with(artifact: str, tmp_path: Path) -> None:
    """A big JPEG is decoded at a reduced DCT scale. A new classifier records draft factor 1 (decoded no smaller than
    its input); one trained before that (no "draft_factor" in its metadata) still decodes at 2, on the server and in
    its export alike, so old exports keep matching the server."""
    big = tmp_path / "big.jpg"  # a scissors and a fork, half and half: neither tag is near certain
    scissors, fork = (Image.open(p).convert("RGB").resize((1280, 960), Image.Resampling.BICUBIC)
                      for p in (photos(TAGS[1])[14], photos(TAGS[0])[15]))
    Image.blend(scissors, fork, 0.5).save(big, quality=95)
    session = ort.InferenceSession(str(Path(artifact) / "model.onnx"), providers=["CPUExecutionProvider"])
    arrays = {draft: load_array(big, image_size=224, draft=draft) for draft in (1, 2)}
    assert arrays[1].shape == (240, 320, 3) and arrays[2].shape == (480, 640, 3)
    expected = {draft: session.run(["probabilities"], {"image": a})[0][0] for draft, a in arrays.items()}
    assert np.abs(expected[1] - expected[2]).max() > 1e-3  # the factor matters on this image

    legacy = tmp_path / "legacy"
    shutil.copytree(artifact, legacy)
    metadata = json.loads((legacy / "metadata.json").read_text())
    assert metadata.pop("draft_factor") == 1
    (legacy / "metadata.json").write_text(json.dumps(metadata))
    for model, draft in ((artifact, 1), (str(legacy), 2)):
        predictor = Predictor.load(model)
        assert predictor.draft == draft
        assert np.abs(predictor.probabilities(big) - expected[draft]).max() < 1e-6
        out = tmp_path / f"export-{draft}"
        report = export_onnx(model, out, validation_images=[big])
        assert report["passed"] and report["max_abs_diff"] <= 1e-4
        standalone = load_standalone(out).Model(out / "model.onnx")
        assert np.abs(standalone.probabilities(str(big)) - expected[draft]).max() <= 1e-4


def test_cli_train_predict_evaluate_export(tmp_path: Path, ml_cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from .conftest import photo_manifest

    manifest = photo_manifest(5)
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest.to_json()))
    assert main(["train", str(path), "--out", str(tmp_path / "run"), "--cache-dir", str(ml_cache), "--seed", "3"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["split"] == {"method": "kfold", "seed": 3, "k": 5}
    assert main(["predict", summary["artifact"], str(manifest.resolve(manifest.samples[-1]))]) == 0
    assert json.loads(capsys.readouterr().out)[0]["predictions"][0]["tag"] == TAGS[1]
    assert main(["evaluate", summary["artifact"], str(path)]) == 0
    assert json.loads(capsys.readouterr().out)["overall"]["accuracy"] == 1.0  # its own training images
    assert main(["export", summary["artifact"], str(tmp_path / "exp")]) == 0
    assert json.loads(capsys.readouterr().out)["passed"] is True
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"task": "classification", "tags": ["a", "b"], "images": {}}))
    assert main(["train", str(empty), "--out", str(tmp_path / "e")]) == 2
    assert json.loads(capsys.readouterr().err)["error"] == "BadRequestTrainingNotNeeded"
