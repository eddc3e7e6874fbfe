"""Quick classification: real training on a few real images, determinism, odd images, bad input."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from training.ml import Manifest, Predictor, Sample, TrainConfig, train
from training.ml.errors import Cancelled, EmptyManifest, NotEnoughImagesPerTag, NotEnoughTags, UnreadableImage

from .conftest import TAGS, photos


def _config(cache: Path, **kw: object) -> TrainConfig:
    return TrainConfig(cache_dir=str(cache), **kw)  # type: ignore[arg-type]


def test_tiny_real_training_separates_forks_from_scissors(
    tiny_manifest: Manifest, ml_cache: Path, tmp_path: Path
) -> None:
    stages: list[tuple[float, str]] = []
    result = train(tiny_manifest, _config(ml_cache), tmp_path, progress=lambda f, s: stages.append((f, s)))
    m = result.metrics
    assert m["split"]["method"] == "kfold" and m["kfold"]["k"] == 5
    assert m["kfold"]["accuracy_mean"] >= 0.8
    assert len(m["validation_predictions"]) == 16  # out-of-fold prediction for every image
    assert {"overall", "per_tag", "confusion", "split", "backbone", "image_size", "mode_delivered"} <= set(m)
    json.dumps(m)
    fractions = [f for f, _ in stages]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    # The delivered model is trained on all images: it knows a held-back fork and pair of scissors.
    predictor = Predictor.load(result.artifact_path)
    held_back = [photos(tag)[10] for tag in TAGS]
    assert [predictor.predict(p)[0].tag for p in held_back] == list(TAGS)
    probs = [p.probability for p in predictor.predict(held_back[0])]
    assert probs == sorted(probs, reverse=True) and sum(probs) == pytest.approx(1.0, abs=1e-5)


def test_same_manifest_and_seed_give_identical_metrics_and_predictions(
    tiny_manifest: Manifest, ml_cache: Path, tmp_path: Path
) -> None:
    a = train(tiny_manifest, _config(ml_cache, seed=1), tmp_path / "a")
    b = train(tiny_manifest, _config(tmp_path / "fresh-cache", seed=1), tmp_path / "b")  # cold vs warm cache
    strip = lambda m: {k: v for k, v in m.items() if k not in ("train_seconds", "embedded_images")}  # noqa: E731
    assert strip(a.metrics) == strip(b.metrics)
    image = tiny_manifest.resolve(tiny_manifest.samples[3])
    assert Predictor.load(a.artifact_path).predict(image) == Predictor.load(b.artifact_path).predict(image)
    c = train(tiny_manifest, _config(ml_cache, seed=2), tmp_path / "c")
    assert c.metrics["split"]["folds"] != a.metrics["split"]["folds"]


def test_retraining_embeds_only_new_images(tiny_manifest: Manifest, ml_cache: Path, tmp_path: Path) -> None:
    train(tiny_manifest, _config(ml_cache), tmp_path / "a")
    more = Manifest(
        task="classification",
        tags=tiny_manifest.tags,
        samples=tiny_manifest.samples
        + tuple(
            Sample(id=f"new{i}", path=str(p), tags=(TAGS[0],))
            for i, p in enumerate(photos(TAGS[0])[12:14])
        ),
    )
    assert train(more, _config(ml_cache), tmp_path / "b").metrics["embedded_images"] == 2
    # Another pooling is another embedding (and trunk): nothing is reused across the two.
    gem = train(more, _config(ml_cache, pooling="gem"), tmp_path / "c")
    assert gem.metrics["embedded_images"] == len(more.samples) and gem.metrics["pooling"] == "gem"
    from training.ml.embeddings import EmbeddingCache, trunk_path

    assert EmbeddingCache(ml_cache, "lite0", 224, pooling="gem").root.name == "lite0-224-gem-v1-d1"
    assert trunk_path("lite0", 224, ml_cache, pooling="gem").name == "lite0-224-gem-v1.onnx"
    assert trunk_path("lite0", 224, ml_cache).name == "lite0-224-v1.onnx"  # the average's names are unchanged


def _synthetic(tmp_path: Path) -> Manifest:
    """Tiny, grey, palette and transparent images: dark vs bright tags."""
    samples = []
    rng = np.random.default_rng(0)
    for i in range(6):
        for tag, base in (("dark", 30), ("bright", 220)):
            arr = np.clip(base + rng.normal(0, 10, (7 + i, 5 + i)), 0, 255).astype(np.uint8)
            im = Image.fromarray(arr, "L")
            if i % 3 == 1:
                im = im.convert("P")
            elif i % 3 == 2:
                im = im.convert("RGBA")
            path = tmp_path / f"{tag}{i}.png"
            im.save(path)
            samples.append(Sample(id=path.name, path=str(path), tags=(tag,)))
    return Manifest(task="classification", tags=("dark", "bright"), samples=tuple(samples))


def test_tiny_grey_palette_and_transparent_images_work(ml_cache: Path, tmp_path: Path) -> None:
    manifest = _synthetic(tmp_path)
    result = train(manifest, _config(ml_cache), tmp_path / "run")
    assert result.metrics["overall"]["accuracy"] == 1.0
    predictor = Predictor.load(result.artifact_path)
    rng = np.random.default_rng(1)
    new_bright = Image.fromarray(np.clip(220 + rng.normal(0, 10, (6, 9)), 0, 255).astype(np.uint8), "L")
    assert predictor.predict(new_bright)[0].tag == "bright"
    assert len(predictor.predict(Image.new("L", (1, 1), 250))) == 2  # a single pixel still works
    assert predictor.predict((tmp_path / "dark0.png").read_bytes())[0].tag == "dark"


def test_multilabel_with_negative_tag(ml_cache: Path, tmp_path: Path) -> None:
    base = _synthetic(tmp_path)
    samples = []
    for s in base.samples:
        idx = int(s.id[-5])
        tags = ("bright", "square") if s.tags == ("bright",) and idx % 2 else s.tags
        tags = ("Negative",) if s.tags == ("dark",) and idx < 3 else tags
        samples.append(Sample(id=s.id, path=s.path, tags=tags))
    manifest = Manifest(
        task="classification", tags=("dark", "bright", "square", "Negative"), samples=tuple(samples),
        multilabel=True, negative_tag="Negative",
    )
    result = train(manifest, _config(ml_cache), tmp_path / "run")
    rng = np.random.default_rng(1)
    bright = Image.fromarray(np.clip(220 + rng.normal(0, 10, (8, 8)), 0, 255).astype(np.uint8), "L")
    preds = Predictor.load(result.artifact_path).predict(bright)
    assert len(preds) == 4 and sum(p.probability for p in preds) != pytest.approx(1.0)
    assert {p.tag: p.probability for p in preds}["bright"] > 0.5
    assert "tp" in result.metrics["confusion"]["columns"]
    thresholds = result.metrics["thresholds"]  # per-tag thresholds chosen on the validation predictions
    assert set(thresholds["per_tag"]) == set(manifest.tags) and all(0 < t < 1 for t in thresholds["per_tag"].values())
    assert 0 <= thresholds["exact_match"] <= 1 and thresholds["exact_match_at_default"] == result.metrics["overall"][
        "accuracy"]
    metadata = json.loads((Path(result.artifact_path) / "metadata.json").read_text())
    assert metadata["tag_thresholds"] == thresholds["per_tag"]  # exported with the model, for offline apps

    # Advanced training's recipe search and fine-tuning judge multilabel answers too (every tag right at 50 %).
    advanced = train(manifest, _config(ml_cache, mode="advanced", budget_seconds=120), tmp_path / "advanced").metrics
    assert len(advanced["comparison"]["recipes"]) == 4
    assert advanced["thresholds"]["per_tag"].keys() == set(manifest.tags)
    assert 0 <= advanced["comparison"]["advanced"]["accuracy"] <= 1


def test_cancel_stops_training(tiny_manifest: Manifest, ml_cache: Path, tmp_path: Path) -> None:
    with pytest.raises(Cancelled) as exc:
        train(tiny_manifest, _config(ml_cache), tmp_path, should_cancel=lambda: True)
    assert exc.value.code == "TrainingCancelled"


def test_bad_manifests_raise_specific_errors(tiny_manifest: Manifest, ml_cache: Path, tmp_path: Path) -> None:
    cfg = _config(ml_cache)
    empty = Manifest(task="classification", tags=("a", "b"), samples=())
    with pytest.raises(EmptyManifest):
        train(empty, cfg, tmp_path)
    forks = tuple(s for s in tiny_manifest.samples if s.tags == (TAGS[0],))
    with pytest.raises(NotEnoughTags):
        train(Manifest(task="classification", tags=TAGS, samples=forks), cfg, tmp_path)
    one_pair = forks + tuple(s for s in tiny_manifest.samples if s.tags == (TAGS[1],))[:1]
    with pytest.raises(NotEnoughImagesPerTag) as exc:
        train(Manifest(task="classification", tags=TAGS, samples=one_pair), cfg, tmp_path)
    assert exc.value.code == "BadRequestNotEnoughImagesPerTag"
    missing = tiny_manifest.samples + (Sample(id="gone", path=str(tmp_path / "gone.jpg"), tags=(TAGS[0],)),)
    with pytest.raises(UnreadableImage):
        train(Manifest(task="classification", tags=TAGS, samples=missing), cfg, tmp_path)
    (tmp_path / "junk.jpg").write_bytes(b"not an image")
    junk = tiny_manifest.samples + (Sample(id="junk", path=str(tmp_path / "junk.jpg"), tags=(TAGS[0],)),)
    with pytest.raises(UnreadableImage) as exc2:
        train(Manifest(task="classification", tags=TAGS, samples=junk), cfg, tmp_path)
    assert exc2.value.code == "BadRequestImageFormat"


@pytest.mark.slow
def test_advanced_mode_delivers_the_better_model_and_says_which(
    tiny_manifest: Manifest, ml_cache: Path, tmp_path: Path
) -> None:
    result = train(tiny_manifest, _config(ml_cache, mode="advanced", budget_seconds=20), tmp_path)
    m = result.metrics
    assert m["mode"] == "advanced" and m["mode_delivered"] in ("quick", "advanced")
    assert result.notes and m["notes"] == result.notes
    assert any(n.startswith("Advanced training compared") for n in result.notes)
    assert any(("did not beat" in n) or ("Fine-tuned model delivered" in n) for n in result.notes)
    predictor = Predictor.load(result.artifact_path)
    assert predictor.predict(tiny_manifest.resolve(tiny_manifest.samples[0]))[0].tag == TAGS[0]

    assert {"images", "quick", "advanced", "recipes"} <= set(m["comparison"]) and m["comparison"]["images"] > 0
    recipes = m["comparison"]["recipes"]
    if fine_tuned := any("Fine-tuned model delivered" in n for n in result.notes):  # its own validation images
        assert m["comparison"]["recipe_images"] == len(tiny_manifest.samples) > m["comparison"]["images"]
    assert recipes[0]["recipe"] == "EfficientNet-Lite0 at 224 px, centre crop"
    assert sum(r["chosen"] for r in recipes) == 1
    chosen = next(r["recipe"] for r in recipes if r["chosen"])
    assert chosen.startswith(f"EfficientNet-{m['backbone'].capitalize()} at {m['image_size']} px")
    # The recipes and epochs the clock allowed are recorded; replaying them gives the same model whatever the budget.
    epochs = m["schedule"]["finetune_epochs"]
    assert epochs[0] >= 1 and len(epochs) == (2 if fine_tuned else 1)
    assert m["schedule"]["recipes"] == [len(recipes) - 1]
    again = train(tiny_manifest, _config(ml_cache, mode="advanced", budget_seconds=0.001, schedule=m["schedule"]),
                  tmp_path / "again").metrics

    def timeless(metrics: dict[str, Any]) -> dict[str, Any]:
        notes = [re.sub(r", \d+ s\)", ")", n) for n in metrics["notes"]]
        tried = [{**r, "seconds": None} for r in metrics["comparison"]["recipes"]]
        return {**metrics, "train_seconds": None, "embedded_images": None, "notes": notes,  # the 2nd run hits the cache
                "comparison": {**metrics["comparison"], "recipes": tried}}

    assert timeless(again) == timeless(m)


def _patches(tmp_path: Path, per_tag: int) -> Manifest:
    """``per_tag`` tiny noisy colour patches per tag: reddish vs bluish."""
    rng = np.random.default_rng(0)
    samples = []
    for tag, colour in (("red", (200, 40, 40)), ("blue", (40, 40, 200))):
        for i in range(per_tag):
            arr = np.clip(np.array(colour) + rng.normal(0, 25, (12, 16, 3)), 0, 255).astype(np.uint8)
            path = tmp_path / f"{tag}{i}.png"
            Image.fromarray(arr).save(path)
            samples.append(Sample(id=path.name, path=str(path), tags=(tag,)))
    return Manifest(task="classification", tags=("red", "blue"), samples=tuple(samples))


def test_augmented_views_only_while_a_tag_is_small_and_cache_entries_are_per_view(
    ml_cache: Path, tmp_path: Path
) -> None:
    import shutil

    from training.ml.classification import AUGMENT_BELOW
    from training.ml.embeddings import VIEWS, Embedder, embed_images, trunk_path
    from training.ml.images import file_sha256

    cache = tmp_path / "cache"  # an empty embedding cache; the trunk is the session's
    trunk = trunk_path("lite0", 224, ml_cache)
    (cache / "trunks").mkdir(parents=True)
    shutil.copy(trunk, cache / "trunks" / trunk.name)
    large = _patches(tmp_path, AUGMENT_BELOW)
    small = Manifest(task="classification", tags=large.tags,
                     samples=large.samples[: AUGMENT_BELOW - 1] + large.samples[AUGMENT_BELOW:])
    result = train(large, _config(cache), tmp_path / "large")
    assert result.metrics["views"] == ["full"] and result.metrics["embedded_images"] == 2 * AUGMENT_BELOW
    assert result.metrics["overall"]["accuracy"] == 1.0
    root = next((cache / "embeddings").iterdir())
    assert sorted(p.name for p in root.iterdir()) == ["view-full"]
    full_before = {p.name: p.read_bytes() for p in (root / "view-full").rglob("*.f32")}
    assert len(full_before) == 2 * AUGMENT_BELOW

    # One image fewer in "red": the small set trains on every view, reusing the "full" entries.
    again = train(small, _config(cache), tmp_path / "small")
    assert again.metrics["views"] == list(VIEWS)
    assert again.metrics["embedded_images"] == len(small.samples)  # each still lacked its flip and zoom
    assert sorted(p.name for p in root.iterdir()) == sorted(f"view-{v}" for v in VIEWS)
    assert {p.name: p.read_bytes() for p in (root / "view-full").rglob("*.f32")} == full_before

    # An entry is the same whichever other views or images were computed with it (cold vs warm, bit for bit).
    paths = [small.resolve(s) for s in small.samples[:3]]
    embedder = Embedder("lite0", None, tmp_path / "fresh", trunk_cache_dir=cache)
    fresh, missed = embed_images([lambda p=p: embedder.load(p) for p in paths],
                                 [file_sha256(p) for p in paths], embedder=embedder, views=VIEWS[::-1])
    assert missed == 3 and fresh.shape == (3, len(VIEWS), 1280)
    warm = Embedder("lite0", None, cache, trunk_cache_dir=cache)
    known, missed = embed_images([lambda p=p: warm.load(p) for p in paths],
                                 [file_sha256(p) for p in paths], embedder=warm, views=VIEWS)
    assert missed == 0 and np.array_equal(known, fresh[:, ::-1])


def test_a_failed_int8_quantisation_is_noted_in_the_artifact_too(
    tiny_manifest: Manifest, ml_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """onnxruntime's quantiser failing (here made to) costs only the int8 extra: the fp32 model is delivered, and the
    note is in the result and in the artifact's metrics.json alike."""
    import json

    import onnxruntime.quantization

    def refuse(*args: object, **kwargs: object) -> None:
        raise RuntimeError("quantiser refused the graph")

    monkeypatch.setattr(onnxruntime.quantization, "quantize_static", refuse)
    result = train(tiny_manifest, _config(ml_cache, int8=True), tmp_path)
    note = "No int8 model: quantisation failed (RuntimeError); the fp32 model is served."
    assert note in result.notes
    assert note in json.loads((Path(result.artifact_path) / "metrics.json").read_text())["notes"]
    assert not (Path(result.artifact_path) / "model_int8.onnx").exists()
    assert Predictor.load(result.artifact_path, int8=True).int8 is False


def test_the_old_cache_layouts_are_deleted_and_nothing_else(tmp_path: Path) -> None:
    """Entries of the layouts before this one are deleted by the first cache opened on that backbone and size: the
    folder without "-d1" (images decoded at draft factor 2) held a folder per view, and before that (views, F) .npy
    files in a folder per set of views. Today's entries and anything else are left alone."""
    from training.ml.embeddings import EmbeddingCache

    before = tmp_path / "embeddings" / "lite0-224-v1"
    for folder in ("full-flip-zoom", "full"):
        (before / folder / "ab").mkdir(parents=True)
        np.save(before / folder / "ab" / ("ab" + "0" * 62 + ".npy"), np.zeros((3, 4), np.float32))
    (before / "view-full" / "ab").mkdir(parents=True)
    (before / "view-full" / "ab" / ("ab" + "0" * 62 + ".f32")).write_bytes(np.zeros(4, "<f4").tobytes())
    (before / "notes").mkdir()
    (before / "notes" / "keep.txt").write_text("not ours to delete")
    cache = EmbeddingCache(tmp_path, "lite0", 224)
    assert cache.root.name == "lite0-224-v1-d1"
    assert cache.get("full", "ab" + "0" * 62) is None  # decoded at another draft factor: computed again
    cache.put("full", "cd" + "1" * 62, np.ones(4, np.float32))
    EmbeddingCache(tmp_path, "lite0", 224)  # a second open finds nothing more to delete
    assert sorted(p.name for p in before.iterdir()) == ["notes"]
    assert (before / "notes" / "keep.txt").read_text() == "not ours to delete"
    assert cache.get("full", "cd" + "1" * 62) is not None

    (before / "notes" / "keep.txt").unlink()
    (before / "notes").rmdir()
    (before / "view-flip").mkdir()
    EmbeddingCache(tmp_path, "lite0", 224)
    assert not before.exists()  # nothing else was in it


def _embedded(n_per_tag: int, noise: float, dims: int) -> tuple[Manifest, np.ndarray, np.ndarray]:
    """A two-tag manifest with (N, 1, dims) embeddings: tag b adds 1 to the first 4 features, the rest is noise."""
    from training.ml.linear_head import targets

    rng = np.random.default_rng(0)
    samples = tuple(Sample(id=f"{t}{i}", path=f"{t}{i}.jpg", tags=(t,)) for t in "ab" for i in range(n_per_tag))
    manifest = Manifest(task="classification", tags=("a", "b"), samples=samples)
    y = targets(manifest, manifest.samples)
    x = rng.normal(0.0, noise, (len(samples), 1, dims)) + 1.0
    x[:, 0, :4] += y[:, 1:2]
    return manifest, x, y


def test_the_heads_penalty_is_chosen_by_cross_validation_strong_for_noise_weak_for_clean_data() -> None:
    from training.ml import classification

    # 20 images a tag, the signal in 4 of 256 noisy features: a lightly penalised head learns the noise.
    noisy, x, y = _embedded(20, noise=1.0, dims=256)
    assert classification.choose_weight_decay(noisy, x, y, range(40), seed=0) >= 1.0
    # 40 images a tag, hardly any noise: a light penalty keeps the (right) probabilities confident.
    clean, x, y = _embedded(40, noise=0.05, dims=64)
    light = classification.choose_weight_decay(clean, x, y, range(80), seed=0)
    assert light <= 1e-2
    # The held-out log-loss it compares, computed again, is lowest at its choice.
    losses = {wd: classification.probability_scores(classification.cross_validated_probabilities(
        clean, x, y, range(80), seed=0, weight_decays=(wd,))[0], y, multilabel=False)[1]
        for wd in classification.WEIGHT_DECAYS}
    assert min(losses, key=lambda wd: losses[wd]) == light
    # A project of more than SEARCH_MAX_IMAGES images keeps the default penalty without fitting anything, on every
    # fold as on the whole set (the manifest decides, not the images of one fold).
    assert classification.choose_weight_decay(clean, x, y, range(80), seed=0) == light
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(classification, "SEARCH_MAX_IMAGES", 79)
        mp.setattr(classification, "fit_head", None)
        assert classification.choose_weight_decay(clean, x, y, range(80), seed=0) == 1e-3
        assert classification.choose_weight_decay(clean, x, y, range(60), seed=0) == 1e-3


def test_training_records_the_penalty_of_every_fold_and_of_the_delivered_head(
    tiny_manifest: Manifest, ml_cache: Path, tmp_path: Path
) -> None:
    from training.ml.classification import WEIGHT_DECAYS

    m = train(tiny_manifest, _config(ml_cache), tmp_path / "searched").metrics
    assert m["weight_decay"] in WEIGHT_DECAYS
    assert m["weight_decay_search"] == {"folds": 5, "candidates": list(WEIGHT_DECAYS)}
    assert len(m["kfold"]["folds"]) == 5 and all(f["weight_decay"] in WEIGHT_DECAYS for f in m["kfold"]["folds"])
    # Past the size limit the run records a fixed penalty, on every fold as for the delivered head.
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("training.ml.classification.SEARCH_MAX_IMAGES", len(tiny_manifest.samples) - 1)
        m = train(tiny_manifest, _config(ml_cache), tmp_path / "fixed").metrics
    assert m["weight_decay"] == 1e-3 and m["weight_decay_search"] is None
    assert all(f["weight_decay"] == 1e-3 for f in m["kfold"]["folds"])
