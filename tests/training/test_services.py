"""Training services against the real database: Azure's checks, queueing, cancel, the lost-worker reaper."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

import pytest
from django.utils import timezone

from projects.models import Tag
from tests.factories import make_project, make_tag
from tests.training.builders import add_image, tagged_project
from training import errors
from training.models import Iteration, WorkerHeartbeat
from training.services import (
    image_retag,
    iteration_cancel,
    iteration_delete,
    iteration_manifest,
    iteration_publish,
    iteration_queue,
    iteration_rename,
    iteration_run,
    iteration_unpublish,
    iterations_reap_lost,
)

pytestmark = pytest.mark.django_db


def _queue(project, owner, **kw):  # type: ignore[no-untyped-def]
    return iteration_queue(project=project, requested_by=owner, **kw)


def _complete(iteration: Iteration) -> Iteration:
    """Move an iteration to Completed as the worker would (the data path, not the engine, is under test)."""
    Iteration.objects.filter(id=iteration.id).update(status=Iteration.Status.COMPLETED, finished=timezone.now(),
                                                     started=timezone.now(), progress=1.0)
    iteration.refresh_from_db()
    return iteration


# ------------------------------------------------------------------------------------------- validation


def test_training_requires_two_tags(owner):
    project = tagged_project(owner, tags=("Hemlock",), per_tag=5)
    with pytest.raises(errors.ClassificationTrainingValidationFailed, match="at least 2 tags"):
        _queue(project, owner)
    assert not Iteration.objects.exists()


def test_each_tag_needs_the_minimum_number_of_images(owner, settings):
    settings.TAGSIGHT_MIN_IMAGES_PER_TAG = 3
    project = tagged_project(owner, tags=("Hemlock",), per_tag=3)
    cherry = make_tag(project, "Cherry")
    add_image(project, tags=[cherry])
    add_image(project, tags=[cherry])
    with pytest.raises(errors.ClassificationTrainingValidationFailed) as exc:
        _queue(project, owner)
    assert "'Cherry' has 2" in str(exc.value) and "at least 3" in str(exc.value)
    assert exc.value.code == "BadRequestClassificationTrainingValidationFailed"
    add_image(project, tags=[cherry])
    assert _queue(project, owner).status == Iteration.Status.TRAINING


def test_multiclass_image_with_two_tags_is_rejected(owner, settings):
    settings.TAGSIGHT_MIN_IMAGES_PER_TAG = 2
    project = tagged_project(owner, per_tag=2)
    add_image(project, tags=list(project.tags.all()))
    with pytest.raises(errors.MultiClassTrainingValidationFailed, match="more than one tag") as exc:
        _queue(project, owner)
    assert exc.value.code == "BadRequestMultiClassClassificationTrainingValidationFailed"


def test_multilabel_project_accepts_several_tags_per_image(owner, settings):
    settings.TAGSIGHT_MIN_IMAGES_PER_TAG = 2
    project = tagged_project(owner, per_tag=2, classification_type="Multilabel")
    add_image(project, tags=list(project.tags.all()))
    assert _queue(project, owner).image_count == 5


def test_one_tag_plus_the_negative_tag_is_enough(owner, settings):
    settings.TAGSIGHT_MIN_IMAGES_PER_TAG = 2
    project = tagged_project(owner, tags=("Hemlock",), per_tag=2)
    negative = make_tag(project, "Negative", type=Tag.TagType.NEGATIVE)
    add_image(project, tags=[negative])
    add_image(project, tags=[negative])
    iteration = _queue(project, owner)
    manifest = iteration_manifest(iteration=iteration, local_paths={i["id"]: "x" for i in iteration.snapshot["images"]})
    assert manifest.negative_tag == "Negative" and set(manifest.tags) == {"Hemlock", "Negative"}


def test_detection_needs_the_minimum_number_of_boxes_per_tag(owner, settings):
    settings.TAGSIGHT_MIN_BOXES_PER_TAG = 3
    from projects.domains import DEFAULT_DETECTION_DOMAIN

    project = make_project(owner, project_type="detection", domain_id=DEFAULT_DETECTION_DOMAIN)
    fork = make_tag(project, "fork")
    box = {"left": 0.1, "top": 0.1, "width": 0.5, "height": 0.5}
    for _ in range(2):
        add_image(project, regions=[{**box, "tag": fork.id}])
    with pytest.raises(errors.DetectionTrainingValidationFailed, match="'fork' has 2") as exc:
        _queue(project, owner)
    assert exc.value.code == "BadRequestDetectionTrainingValidationFailed"
    add_image(project, regions=[{**box, "tag": fork.id}])
    iteration = _queue(project, owner)
    manifest = iteration_manifest(iteration=iteration, local_paths={i["id"]: "x" for i in iteration.snapshot["images"]})
    assert manifest.task == "detection" and len(manifest.samples) == 3
    assert manifest.samples[0].boxes[0].tag == "fork" and manifest.samples[0].boxes[0].width == pytest.approx(0.5)


# ------------------------------------------------------------------------------------------- queueing


def test_queue_creates_a_training_iteration_and_schedules_the_task_after_commit(
    owner, django_capture_on_commit_callbacks
):
    project = tagged_project(owner)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        iteration = _queue(project, owner)
    assert len(callbacks) == 1
    assert iteration.name == "Iteration 1" and iteration.is_queued and iteration.image_count == 10
    assert iteration.backbone == project.domain.backbone and iteration.task_id
    assert {t["name"] for t in iteration.snapshot["tags"]} == {"Hemlock", "Cherry"}


def test_second_training_while_one_is_in_progress_is_refused(owner):
    project = tagged_project(owner)
    _queue(project, owner)
    with pytest.raises(errors.TrainingAlreadyInProgress) as exc:
        _queue(project, owner, force=True)
    assert exc.value.code == "BadRequestTrainingAlreadyInProgress"


def test_nothing_new_to_train_unless_forced(owner):
    project = tagged_project(owner)
    _complete(_queue(project, owner))
    with pytest.raises(errors.TrainingNotNeeded, match="Nothing new to train") as exc:
        _queue(project, owner)
    assert exc.value.code == "BadRequestTrainingNotNeeded"
    assert _queue(project, owner, force=True).name == "Iteration 2"


def test_new_image_makes_training_needed_again(owner):
    project = tagged_project(owner)
    _complete(_queue(project, owner))
    add_image(project, tags=[project.tags.first()])
    assert _queue(project, owner).image_count == 11


def test_advanced_training_needs_a_budget(owner):
    project = tagged_project(owner)
    with pytest.raises(errors.InvalidTrainingBudget):
        _queue(project, owner, training_type="Advanced", budget_minutes=0)
    iteration = _queue(project, owner, training_type="Advanced", budget_minutes=3)
    assert iteration.budget_minutes == 3


def test_snapshot_is_frozen_against_later_edits(owner):
    project = tagged_project(owner)
    iteration = _queue(project, owner)
    tag = project.tags.get(name="Hemlock")
    tag.name = "Renamed"
    tag.save()
    add_image(project, tags=[tag])
    iteration.refresh_from_db()
    assert iteration.image_count == 10 and "Hemlock" in {t["name"] for t in iteration.snapshot["tags"]}


# ------------------------------------------------------------------------------------------- run / cancel


def test_cancelled_queued_iteration_never_runs(owner):
    project = tagged_project(owner)
    iteration = iteration_cancel(iteration=_queue(project, owner))
    assert iteration.status == Iteration.Status.CANCELLED and iteration.finished is not None
    iteration_run(iteration_id=iteration.id, worker_hostname="w@test")
    iteration.refresh_from_db()
    assert iteration.status == Iteration.Status.CANCELLED and iteration.started is None


def test_failed_iteration_is_not_run_again(owner):
    project = tagged_project(owner)
    iteration = _queue(project, owner)
    Iteration.objects.filter(id=iteration.id).update(status=Iteration.Status.FAILED, error="worker lost")
    iteration_run(iteration_id=iteration.id, worker_hostname="w@test")
    iteration.refresh_from_db()
    assert iteration.status == Iteration.Status.FAILED and iteration.started is None


def test_image_missing_from_storage_fails_with_a_readable_reason(owner):
    from django.core.files.storage import default_storage

    project = tagged_project(owner)
    iteration = _queue(project, owner)
    default_storage.delete(iteration.snapshot["images"][0]["file"])
    iteration_run(iteration_id=iteration.id, worker_hostname="w@test")
    iteration.refresh_from_db()
    assert iteration.status == Iteration.Status.FAILED
    assert "could not be read from storage" in iteration.error and iteration.error_code == "ErrorImageStorage"
    assert iteration.worker_hostname == "w@test" and iteration.finished is not None


# ------------------------------------------------------------------------------------------- reaper


def _running(project, owner, *, hostname="w@host", pid=999_999, parent=999_998, started_ago=60):  # type: ignore[no-untyped-def]
    iteration = _queue(project, owner, force=True)
    Iteration.objects.filter(id=iteration.id).update(
        started=timezone.now() - timedelta(seconds=started_ago), worker_hostname=hostname, worker_pid=pid,
        worker_parent_pid=parent,
    )
    return iteration


def _beat(hostname="w@host", pid=999_998, ago=0):  # type: ignore[no-untyped-def]
    WorkerHeartbeat.objects.update_or_create(
        hostname=hostname, defaults={"pid": pid, "last_seen": timezone.now() - timedelta(seconds=ago)}
    )


def test_reaper_fails_an_iteration_whose_worker_stopped_beating(owner):
    project = tagged_project(owner)
    iteration = _running(project, owner)
    _beat(ago=45)
    assert iterations_reap_lost() == 1
    iteration.refresh_from_db()
    assert iteration.status == Iteration.Status.FAILED and iteration.error.startswith("Worker lost")
    assert iteration.error_code == "ErrorWorkerLost"
    assert _queue(project, owner, force=True).status == Iteration.Status.TRAINING  # the user can train again


def test_reaper_keeps_an_iteration_whose_worker_is_alive(owner):
    project = tagged_project(owner)
    iteration = _running(project, owner)
    _beat(ago=2)
    assert iterations_reap_lost() == 0
    iteration.refresh_from_db()
    assert iteration.is_running


def test_reaper_fails_an_iteration_of_a_restarted_worker(owner):
    project = tagged_project(owner)
    iteration = _running(project, owner)
    _beat(pid=12345, ago=0)  # same hostname, a new process beating after the job started
    assert iterations_reap_lost(project=project) == 1
    iteration.refresh_from_db()
    assert "restarted" in iteration.error


def test_reaper_gives_a_just_started_job_time_for_its_first_heartbeat(owner):
    project = tagged_project(owner)
    _running(project, owner, hostname="new@host", started_ago=3)
    assert iterations_reap_lost() == 0


def test_reaper_on_the_worker_machine_sees_a_dead_pool_process(owner):
    project = tagged_project(owner)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    iteration = _running(project, owner, pid=dead.pid, parent=999_998)
    _beat(ago=0)
    assert iterations_reap_lost(local_hostname="other@host") == 0
    assert iterations_reap_lost(local_hostname="w@host") == 1
    iteration.refresh_from_db()
    assert "pool process died" in iteration.error


def test_reaper_never_touches_finished_iterations(owner):
    project = tagged_project(owner)
    iteration = _running(project, owner)
    iteration_cancel(iteration=iteration)
    assert iterations_reap_lost() == 0
    iteration.refresh_from_db()
    assert iteration.status == Iteration.Status.CANCELLED


# ------------------------------------------------------------------------------------------- lifecycle


def test_publish_requires_a_completed_iteration_and_a_unique_name(owner):
    project = tagged_project(owner)
    first = _queue(project, owner)
    with pytest.raises(errors.IterationNotCompleted):
        iteration_publish(iteration=first, publish_name="prod")
    _complete(first)
    iteration_publish(iteration=first, publish_name="prod")
    second = _complete(_queue(project, owner, force=True))
    with pytest.raises(errors.InvalidPublishName, match="already published"):
        iteration_publish(iteration=second, publish_name="prod")
    with pytest.raises(errors.InvalidPublishName):
        iteration_publish(iteration=second, publish_name="a/b")
    iteration_unpublish(iteration=first)
    assert iteration_publish(iteration=second, publish_name="prod").is_published
    with pytest.raises(errors.IterationNotPublished):
        iteration_unpublish(iteration=first)


def test_published_iteration_cannot_be_deleted(owner):
    project = tagged_project(owner)
    iteration = _complete(_queue(project, owner))
    iteration_publish(iteration=iteration, publish_name="prod")
    with pytest.raises(errors.IterationIsPublished) as exc:
        iteration_delete(iteration=iteration)
    assert exc.value.code == "BadRequestIterationIsPublished"
    iteration_unpublish(iteration=iteration)
    iteration_delete(iteration=iteration)
    assert not Iteration.objects.exists()


def test_rename_rejects_empty_and_duplicate_names(owner):
    project = tagged_project(owner)
    first = _complete(_queue(project, owner))
    second = _queue(project, owner, force=True)
    assert iteration_rename(iteration=first, name="  Baseline ").name == "Baseline"
    with pytest.raises(errors.IterationNameNotUnique):
        iteration_rename(iteration=second, name="baseline")
    with pytest.raises(errors.IterationNameInvalid):
        iteration_rename(iteration=second, name="   ")


def test_retag_sets_adds_and_removes_tags(owner):
    project = tagged_project(owner, per_tag=1)
    hemlock, cherry = project.tags.get(name="Hemlock"), project.tags.get(name="Cherry")
    image = hemlock.images.first()
    image_retag(project=project, image_id=image.id, tag_id=cherry.id, mode="set")
    assert [t.name for t in image.tags.all()] == ["Cherry"]
    image_retag(project=project, image_id=image.id, tag_id=hemlock.id, mode="add")
    assert {t.name for t in image.tags.all()} == {"Cherry", "Hemlock"}
    image_retag(project=project, image_id=image.id, tag_id=cherry.id, mode="remove")
    assert [t.name for t in image.tags.all()] == ["Hemlock"]


def test_deleting_or_cancelling_a_running_iteration_tells_the_worker_to_stop(owner):
    from training.services.run import _CancelCheck

    project = tagged_project(owner)
    iteration = _running(project, owner)
    check = _CancelCheck(iteration.id)
    assert check() is False
    iteration_cancel(iteration=iteration)
    check.last_check = 0.0
    assert check() is True and not check.orphaned
    other = _running(project, owner)
    check = _CancelCheck(other.id)
    iteration_delete(iteration=other)
    assert check() is True


def test_a_folder_artifact_round_trips_through_storage(owner, tmp_path, settings):
    from training.storage import artifact_store, iteration_artifact_local

    settings.DATA_DIR = tmp_path / "data"
    model = tmp_path / "model"
    (model / "sub").mkdir(parents=True)
    (model / "weights.bin").write_bytes(b"\x00\x01" * 100)
    (model / "sub" / "labels.json").write_text('["a", "b"]')
    iteration = _complete(_queue(tagged_project(owner), owner))
    name, kind = artifact_store(iteration=iteration, artifact=model)
    Iteration.objects.filter(id=iteration.id).update(artifact_path=name, artifact_kind=kind)
    iteration.refresh_from_db()
    local = iteration_artifact_local(iteration=iteration)
    assert kind == "dir" and (local / "weights.bin").read_bytes() == b"\x00\x01" * 100
    assert (local / "sub" / "labels.json").read_text() == '["a", "b"]'
    assert iteration_artifact_local(iteration=iteration) == local  # cached: downloaded once


def test_deleting_the_project_deletes_its_iterations_models(owner, tmp_path, django_capture_on_commit_callbacks):
    from django.core.files.storage import default_storage

    from projects.services import project_delete
    from training.storage import artifact_store

    model = tmp_path / "model"
    model.mkdir()
    (model / "model.onnx").write_bytes(b"onnx")
    project = tagged_project(owner)
    iteration = _complete(_queue(project, owner))
    name, _ = artifact_store(iteration=iteration, artifact=model)
    assert default_storage.exists(f"{name}/model.onnx")
    with django_capture_on_commit_callbacks(execute=True):
        project_delete(project=project)
    assert not default_storage.exists(f"{name}/model.onnx")


def test_retag_is_refused_for_detection_and_keeps_the_boxes(owner):
    from labeling.models import Region
    from projects.domains import DEFAULT_DETECTION_DOMAIN

    project = make_project(owner, name="Kitchen", project_type="detection", domain_id=DEFAULT_DETECTION_DOMAIN)
    fork, knife = make_tag(project, "fork"), make_tag(project, "knife")
    image = add_image(project, regions=[{"tag": fork.id, "left": 0.1, "top": 0.1, "width": 0.3, "height": 0.3}])
    tags_before = sorted(t.name for t in image.tags.all())
    for mode in ("set", "add", "remove"):
        with pytest.raises(errors.ImageRetagNotForDetection, match="labeler") as exc:
            image_retag(project=project, image_id=image.id, tag_id=knife.id, mode=mode)
        assert exc.value.status == 400
    assert list(Region.objects.filter(image=image).values_list("tag__name", flat=True)) == ["fork"]
    assert sorted(t.name for t in image.tags.all()) == tags_before


def test_selected_tags_keep_only_their_images_and_labels(owner):
    project = tagged_project(owner, per_tag=5, classification_type="Multilabel")
    hemlock, cherry = project.tags.get(name="Hemlock"), project.tags.get(name="Cherry")
    oak = make_tag(project, "Oak")
    both = add_image(project, tags=[hemlock, oak])  # keeps Hemlock, loses Oak
    add_image(project, tags=[oak])  # not trained on at all
    with pytest.raises(errors.TrainingError) as exc:  # a tag of another project
        _queue(project, owner, selected_tag_ids=[hemlock.id, make_tag(make_project(owner, name="Other"), "Elm").id])
    assert exc.value.code == "BadRequestInvalidIds"
    iteration = _queue(project, owner, selected_tag_ids=[hemlock.id, str(cherry.id)])
    snapshot = iteration.snapshot
    assert [t["name"] for t in snapshot["tags"]] == ["Cherry", "Hemlock"]
    assert iteration.image_count == 11
    assert next(i for i in snapshot["images"] if i["id"] == str(both.id))["tags"] == [str(hemlock.id)]


def test_a_project_with_a_published_iteration_cannot_be_deleted(owner):
    from projects.models import Project
    from projects.services import project_delete

    project = tagged_project(owner)
    iteration = _complete(_queue(project, owner))
    iteration_publish(iteration=iteration, publish_name="prod")
    with pytest.raises(errors.IterationIsPublished, match="prod") as exc:
        project_delete(project=project)
    assert exc.value.code == "BadRequestIterationIsPublished"
    assert Project.objects.filter(id=project.id).exists() and Iteration.objects.filter(id=iteration.id).exists()
    iteration_unpublish(iteration=iteration)
    project_delete(project=project)
    assert not Project.objects.filter(id=project.id).exists()


def test_publish_with_overwrite_takes_the_name_from_another_iteration(owner):
    project = tagged_project(owner)
    first = _complete(_queue(project, owner))
    second = _complete(_queue(project, owner, force=True))
    iteration_publish(iteration=first, publish_name="prod")
    with pytest.raises(errors.InvalidPublishName):
        iteration_publish(iteration=second, publish_name="prod")
    iteration_publish(iteration=second, publish_name="prod", overwrite=True)
    first.refresh_from_db()
    assert (first.publish_name, second.publish_name) == (None, "prod")
