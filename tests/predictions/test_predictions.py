"""Prediction services against a real trained model: store / no-store, cache reuse, retention, add to training."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone

from tests.factories import make_image_bytes
from tests.predictions.builders import TEST_IMAGE, trained_quickstart

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


@pytest.fixture
def trained(owner):  # type: ignore[no-untyped-def]
    from predictions.services import predictor_cache

    predictor_cache().clear()
    return trained_quickstart(owner)


def test_store_and_no_store(trained) -> None:  # type: ignore[no-untyped-def]
    from predictions.models import StoredPrediction
    from predictions.services import prediction_run

    project, iteration = trained
    data = TEST_IMAGE.read_bytes()
    result = prediction_run(project=project, iteration=iteration, data=data, store=True, source="api",
                            application="myapp")
    assert result.predictions[0]["tag"] == "Hemlock"
    assert [p["probability"] for p in result.predictions] == sorted((p["probability"] for p in result.predictions),
                                                                    reverse=True)
    assert abs(sum(p["probability"] for p in result.predictions) - 1) < 1e-4  # multiclass softmax
    assert 0 < result.model_ms <= result.total_ms
    stored = StoredPrediction.objects.get(id=result.id)
    assert (stored.source, stored.application, stored.top_tag) == ("api", "myapp", "Hemlock")
    assert stored.iteration_id == iteration.id and stored.width == 320 and stored.height == 229
    assert stored.uncertainty == pytest.approx(1 - abs(2 * stored.top_probability - 1))
    assert default_storage.exists(stored.file) and stored.thumbnail == stored.file  # rendered on first view
    from predictions.services import prediction_thumbnail

    thumbnail = prediction_thumbnail(prediction=stored)
    assert thumbnail != stored.file and default_storage.exists(thumbnail)
    assert StoredPrediction.objects.get(id=stored.id).thumbnail == thumbnail
    with default_storage.open(stored.file, "rb") as f:
        assert f.read() == data

    nostore = prediction_run(project=project, iteration=iteration, data=data, store=False)
    assert nostore.stored is None and nostore.predictions[0]["tag"] == "Hemlock"
    assert StoredPrediction.objects.count() == 1


def test_bad_images_are_refused_with_azure_codes(trained, settings) -> None:  # type: ignore[no-untyped-def]
    from predictions.models import StoredPrediction
    from predictions.services import PredictionError, prediction_run

    project, iteration = trained
    cases = {
        b"": "BadRequestImageFormat",
        b"not an image at all": "BadRequestImageFormat",
        make_image_bytes(fmt="JPEG")[:60]: "BadRequestImageFormat",  # truncated
        b"\xff" * (4 * 1024 * 1024 + 1): "BadRequestImageSizeBytes",
    }
    for data, code in cases.items():
        with pytest.raises(PredictionError) as info:
            prediction_run(project=project, iteration=iteration, data=data, store=True)
        assert info.value.code == code
    settings.TAGSIGHT_MAX_PREDICTION_BYTES = 1000
    with pytest.raises(PredictionError) as info:
        prediction_run(project=project, iteration=iteration, data=TEST_IMAGE.read_bytes(), store=True)
    assert info.value.code == "BadRequestImageSizeBytes"
    assert StoredPrediction.objects.count() == 0


def test_untrained_iteration_is_refused(trained) -> None:  # type: ignore[no-untyped-def]
    from predictions.services import PredictionError, prediction_run
    from training.models import Iteration

    project, iteration = trained
    Iteration.objects.filter(id=iteration.id).update(status="Failed")
    iteration.refresh_from_db()
    with pytest.raises(PredictionError) as info:
        prediction_run(project=project, iteration=iteration, data=TEST_IMAGE.read_bytes(), store=False)
    assert info.value.code == "BadRequestIterationIsNotTrained"


def test_cache_loads_once_under_threads_and_is_bounded(trained, settings) -> None:  # type: ignore[no-untyped-def]
    from predictions.services import PredictorCache, predictor_cache, predictor_get

    project, iteration = trained
    cache = predictor_cache()
    results = []

    def work() -> None:
        results.append(predictor_get(iteration=iteration))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(r) for r in results}) == 1
    assert cache.info()["loads"] == 1 and cache.info()["size"] == 1
    assert predictor_get(iteration=iteration) is results[0]

    small = PredictorCache(2)
    loads = []
    for key in ("a", "b", "a", "c", "a"):
        small.get((key, "p"), lambda k=key: loads.append(k) or object())
    assert loads == ["a", "b", "c"] and small.info()["keys"] == ["c", "a"]  # b evicted, a kept (recently used)


def test_cache_is_not_shared_across_fork(monkeypatch) -> None:
    from predictions import services as predictions

    cache = predictions.PredictorCache(2)
    first = cache.get(("x", "p"), object)
    monkeypatch.setattr(predictions.os, "getpid", lambda: -1)
    assert cache.get(("x", "p"), object) is not first


def test_list_filters_and_uncertain_first(trained) -> None:  # type: ignore[no-untyped-def]
    from predictions.models import StoredPrediction
    from predictions.services import prediction_list, prediction_run

    project, iteration = trained
    result = prediction_run(project=project, iteration=iteration, data=TEST_IMAGE.read_bytes(), store=True)
    stored = StoredPrediction.objects.get(id=result.id)
    unsure = StoredPrediction.objects.create(project=project, iteration=iteration, file="x", top_tag="Japanese Cherry",
                                             top_probability=0.55, uncertainty=0.9, predictions=[])
    sure = StoredPrediction.objects.create(project=project, iteration=iteration, file="y", top_tag="Hemlock",
                                           top_probability=1.0, uncertainty=0.0, predictions=[])  # surer than any
    ordered = list(prediction_list(project=project))
    assert ordered[0] == unsure and ordered[-1] == sure
    assert set(prediction_list(project=project, tag="Hemlock")) == {stored, sure}
    assert list(prediction_list(project=project, min_probability=0.5, max_probability=0.6)) == [unsure]
    assert list(prediction_list(project=project, order="confident"))[0] == sure


def test_delete_and_retention_cleanup(trained, settings, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    from predictions.cleanup import cleanup_after_beat
    from predictions.models import StoredPrediction
    from predictions.services import prediction_delete, prediction_run, predictions_cleanup

    project, iteration = trained
    data = TEST_IMAGE.read_bytes()
    old, new, gone = (prediction_run(project=project, iteration=iteration, data=data, store=True).stored
                      for _ in range(3))
    assert old and new and gone
    with django_capture_on_commit_callbacks(execute=True):
        prediction_delete(prediction=gone)
    assert not default_storage.exists(gone.file)
    StoredPrediction.objects.filter(id=old.id).update(created=timezone.now() - timedelta(days=31))
    settings.TAGSIGHT_PREDICTION_RETENTION_DAYS = 30
    with django_capture_on_commit_callbacks(execute=True):
        assert predictions_cleanup() == 1
    assert list(StoredPrediction.objects.values_list("id", flat=True)) == [new.id]
    assert not default_storage.exists(old.file) and default_storage.exists(new.file)
    assert predictions_cleanup(older_than_days=0) == 1
    # The worker's heartbeat hook runs it at most once an hour.
    assert cleanup_after_beat(now=1e9, background=False) is True
    assert cleanup_after_beat(now=1e9 + 60, background=False) is False
    assert cleanup_after_beat(now=1e9 + 3601, background=False) is True


def test_add_to_training_creates_a_tagged_image(trained) -> None:  # type: ignore[no-untyped-def]
    from predictions.models import StoredPrediction
    from predictions.services import PredictionError, prediction_add_to_training, prediction_run
    from projects.models import Image, Tag

    project, iteration = trained
    before = Image.objects.filter(project=project).count()
    data = make_image_bytes(size=(120, 90), color=(10, 200, 30), fmt="JPEG")
    stored = prediction_run(project=project, iteration=iteration, data=data, store=True).stored
    cherry = Tag.objects.get(project=project, name="Japanese Cherry")
    with pytest.raises(PredictionError):
        prediction_add_to_training(prediction=stored, tags=[])
    result = prediction_add_to_training(prediction=stored, tags=[cherry.id])
    assert result.status == "OK"
    assert Image.objects.filter(project=project).count() == before + 1
    assert list(result.image.tags.all()) == [cherry]
    assert not StoredPrediction.objects.filter(id=stored.id).exists()  # moved to the training images


def test_adding_to_a_full_project_is_refused_and_the_prediction_stays(trained, settings) -> None:  # type: ignore[no-untyped-def]
    from predictions.models import StoredPrediction
    from predictions.services import PredictionError, prediction_add_to_training, prediction_run
    from projects.models import Image, Tag

    project, iteration = trained
    data = make_image_bytes(size=(120, 90), color=(200, 10, 30), fmt="JPEG")
    stored = prediction_run(project=project, iteration=iteration, data=data, store=True).stored
    settings.TAGSIGHT_MAX_IMAGES_PER_PROJECT = Image.objects.filter(project=project).count()
    cherry = Tag.objects.get(project=project, name="Japanese Cherry")
    with pytest.raises(PredictionError) as caught:
        prediction_add_to_training(prediction=stored, tags=[cherry.id])
    assert caught.value.code == "BadRequestImageExceededCount" and "Delete images" in caught.value.message
    assert StoredPrediction.objects.filter(id=stored.id).exists()
