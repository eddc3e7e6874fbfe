"""Training pages through the Django test client: Train, the list, the live body (htmx), Performance, strangers."""

from __future__ import annotations

import re

import pytest
from django.core.cache import caches
from django.urls import reverse
from django.utils import timezone

from tests.training.builders import completed_iteration, tagged_project
from training.ml.metrics import compute_metrics
from training.models import Iteration
from training.services import iteration_queue

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def _completed(project, owner):  # type: ignore[no-untyped-def]
    return completed_iteration(project, owner=owner)


@pytest.fixture
def project(owner):  # type: ignore[no-untyped-def]
    return tagged_project(owner, per_tag=5)


def test_train_button_queues_and_opens_the_iteration(owner_client, project):
    response = owner_client.post(reverse("training:train", args=[project.id]), {"training_type": "Regular"})
    iteration = Iteration.objects.get()
    assert response.status_code == 302 and response.url == reverse("training:iteration-detail", args=[iteration.id])
    assert iteration.is_queued and iteration.requested_by.username == "owner"


def test_advanced_training_takes_a_budget(owner_client, project):
    owner_client.post(reverse("training:train", args=[project.id]),
                      {"training_type": "Advanced", "budget_minutes": "7"})
    assert Iteration.objects.get().budget_minutes == 7


def test_failed_check_is_explained_in_the_train_dialog(owner_client, owner):
    project = tagged_project(owner, tags=("Hemlock",), per_tag=5)
    response = owner_client.post(reverse("training:train", args=[project.id]), {"training_type": "Regular"})
    assert response.status_code == 400
    assert b"at least 2 tags" in response.content and not Iteration.objects.exists()


def test_nothing_new_offers_train_anyway(owner_client, owner, project):
    _completed(project, owner)
    # The completed iteration was forced; its fingerprint matches the data, so a plain Train is "not needed".
    response = owner_client.post(reverse("training:train", args=[project.id]), {"training_type": "Regular"})
    assert response.status_code == 400 and b"Nothing new to train" in response.content
    assert b'name="force"' in response.content
    response = owner_client.post(reverse("training:train", args=[project.id]),
                                 {"training_type": "Regular", "force": "on"})
    assert response.status_code == 302


def test_iteration_list_shows_status_type_size_and_published_badge(owner_client, owner, project):
    done = _completed(project, owner)
    done.publish_name = "prod"
    done.save()
    response = owner_client.get(reverse("training:iteration-list", args=[project.id]))
    content = response.content.decode()
    assert response.status_code == 200
    assert "Iteration 1" in content and "Completed" in content and "Published as prod" in content
    assert "Quick" in content and ">10<" in content


def test_live_body_polls_while_training(owner_client, owner, project):
    iteration = iteration_queue(project=project, requested_by=owner)
    Iteration.objects.filter(id=iteration.id).update(started=timezone.now(), progress=0.4, stage="Training head",
                                                     worker_hostname="w@x", worker_pid=1, worker_parent_pid=1)
    from training.models import WorkerHeartbeat

    WorkerHeartbeat.objects.create(hostname="w@x", pid=1, last_seen=timezone.now())
    response = owner_client.get(reverse("training:iteration-status", args=[iteration.id]), **HX)
    content = response.content.decode()
    assert response.status_code == 200
    assert content.lstrip().startswith('<div id="iteration-body"') and 'hx-trigger="every 500ms"' in content
    assert "Training head" in content and "width: 40.0%" in content and "Cancel training" in content
    assert "<html" not in content


def test_live_body_stops_polling_with_286_when_done(owner_client, owner, project):
    iteration = _completed(project, owner)
    response = owner_client.get(reverse("training:iteration-status", args=[iteration.id]), **HX)
    content = response.content.decode()
    assert response.status_code == 286
    assert "hx-trigger" not in content.split(">", 1)[0] and 'id="tag-table"' in content


def test_status_poll_reaps_a_lost_worker(owner_client, owner, project):
    iteration = iteration_queue(project=project, requested_by=owner)
    Iteration.objects.filter(id=iteration.id).update(started=timezone.now() - timezone.timedelta(seconds=90),
                                                     worker_hostname="gone@x")
    response = owner_client.get(reverse("training:iteration-status", args=[iteration.id]), **HX)
    assert response.status_code == 286 and b"Worker lost" in response.content


def test_cancel_button_stops_a_queued_training(owner_client, owner, project):
    iteration = iteration_queue(project=project, requested_by=owner)
    response = owner_client.post(reverse("training:iteration-cancel", args=[iteration.id]), **HX)
    assert response.status_code == 200 and b"Cancelled" in response.content
    iteration.refresh_from_db()
    assert iteration.status == Iteration.Status.CANCELLED


def test_performance_tab_shows_overall_and_per_tag_numbers(owner_client, owner, project):
    iteration = _completed(project, owner)
    response = owner_client.get(reverse("training:iteration-detail", args=[iteration.id]))
    content = response.content.decode()
    assert response.status_code == 200
    assert 'id="overall-precision"' in content and "Performance per tag" in content
    assert content.count("<polyline") == 2 and 'id="confusion"' in content
    assert "Hold-out split (stratified, seed 0): 12 images to train, 8 to validate" in content
    assert "EfficientNet-Lite0" in content


def test_threshold_slider_recomputes_without_retraining(owner_client, owner, project):
    iteration = _completed(project, owner)
    url = reverse("training:iteration-performance", args=[iteration.id])
    low = owner_client.get(url, {"threshold": "0.25"}, **HX).content.decode()
    high = owner_client.get(url, {"threshold": "0.85"}, **HX).content.decode()
    assert low.lstrip().startswith('<div id="performance-results"') and "<html" not in low
    # At 0.25 every image gets both tags above the threshold: recall 100 %; at 0.85 only the surest one counts.
    assert 'id="overall-recall">100.0%' in low
    assert 'id="overall-recall">25.0%' in high
    assert 'id="overall-precision">66.7%' in low and 'id="overall-precision">100.0%' in high


def test_confusion_cell_opens_its_images(owner_client, owner, project):
    iteration = _completed(project, owner)
    response = owner_client.get(reverse("training:iteration-images", args=[iteration.id]), {"cell": "Hemlock|Cherry"})
    content = response.content.decode()
    assert response.status_code == 200 and "predicted <em>Cherry</em>" in content
    assert content.count('class="err-card"') == 1


def test_error_gallery_retags_in_one_click(owner_client, owner, project):
    iteration = _completed(project, owner)
    response = owner_client.get(reverse("training:iteration-errors", args=[iteration.id]))
    assert response.content.decode().count('class="err-card"') == 2
    wrong = iteration.metrics["validation_predictions"][3]  # a Hemlock image predicted Cherry
    cherry = project.tags.get(name="Cherry")
    response = owner_client.post(reverse("training:iteration-retag", args=[iteration.id]),
                                 {"image": wrong["id"], "tag": str(cherry.id), "mode": "set"}, **HX)
    assert response.status_code == 200 and b"Now tagged: <strong>Cherry</strong>" in response.content
    assert [t.name for t in project.images.get(id=wrong["id"]).tags.all()] == ["Cherry"]


def test_diff_against_the_previous_iteration(owner_client, owner, project):
    _completed(project, owner)
    from tests.training.builders import add_image

    hemlock, cherry = project.tags.get(name="Hemlock"), project.tags.get(name="Cherry")
    add_image(project, tags=[hemlock])
    add_image(project, tags=[hemlock])
    image = hemlock.images.order_by("created").first()
    image.tags.set([cherry])
    second = iteration_queue(project=project, requested_by=owner)
    content = owner_client.get(reverse("training:iteration-detail", args=[second.id])).content.decode()
    assert "+2 images, 1 retagged since Iteration 1" in content


def test_a_finished_iterations_page_is_derived_once_then_read_from_the_cache(owner_client, owner, project):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.training.builders import add_image

    first = _completed(project, owner)
    add_image(project, tags=[project.tags.get(name="Hemlock")])
    second = _completed(project, owner)
    url = reverse("training:iteration-detail", args=[second.id])
    with CaptureQueriesContext(connection) as cold:
        page = owner_client.get(url).content.decode()
    with CaptureQueriesContext(connection) as warm:
        again = owner_client.get(url).content.decode()
    tokens = re.compile(r'("X-CSRFToken": |name="csrfmiddlewaretoken" value=)"[^"]+"')
    assert tokens.sub("", page) == tokens.sub("", again)
    assert "+1 image since Iteration 1" in page and "Frozen at queue time: 11 images, 2 tags" in page
    assert 'id="overall-precision">' in page
    # The snapshots (every image of the project) are decoded for the first view only, the metrics not at all
    # once cached: what a 10,000-image project's page costs stops growing with the project.
    reads = lambda ctx, column: [q for q in ctx.captured_queries  # noqa: E731
                                 if q["sql"].startswith("SELECT") and f'"training_iteration"."{column}"' in q["sql"]]
    assert reads(cold, "snapshot") and not reads(warm, "snapshot") and not reads(warm, "metrics")
    # Other thresholds are their own entries; the first iteration keeps its own figures.
    low = owner_client.get(reverse("training:iteration-performance", args=[second.id]), {"threshold": "0.25"}, **HX)
    assert 'id="overall-recall">100.0%' in low.content.decode()
    assert owner_client.get(reverse("training:iteration-detail", args=[first.id])).status_code == 200


def test_rename_publish_unpublish_and_delete(owner_client, owner, project):
    iteration = _completed(project, owner)
    owner_client.post(reverse("training:iteration-rename", args=[iteration.id]), {"name": "Baseline"})
    owner_client.post(reverse("training:iteration-publish", args=[iteration.id]), {"publish_name": "prod"})
    iteration.refresh_from_db()
    assert iteration.name == "Baseline" and iteration.publish_name == "prod"
    page = owner_client.get(reverse("training:iteration-delete", args=[iteration.id])).content.decode()
    assert "Unpublish it first" in page
    response = owner_client.post(reverse("training:iteration-delete", args=[iteration.id]))
    assert Iteration.objects.filter(id=iteration.id).exists()
    owner_client.post(reverse("training:iteration-unpublish", args=[iteration.id]))
    page = owner_client.get(reverse("training:iteration-delete", args=[iteration.id])).content.decode()
    assert "Delete iteration" in page
    response = owner_client.post(reverse("training:iteration-delete", args=[iteration.id]))
    assert response.status_code == 302 and not Iteration.objects.filter(id=iteration.id).exists()


def test_project_delete_page_says_to_unpublish_first(owner_client, owner, project):
    from projects.models import Project

    iteration = _completed(project, owner)
    owner_client.post(reverse("training:iteration-publish", args=[iteration.id]), {"publish_name": "prod"})
    url = reverse("projects:project-delete", args=[project.id])
    page = owner_client.get(url).content.decode()
    assert "Unpublish" in page and "prod" in page and "Delete project</button>" not in page
    response = owner_client.post(url, follow=True)
    assert Project.objects.filter(id=project.id).exists()
    assert "Unpublish" in response.content.decode()
    owner_client.post(reverse("training:iteration-unpublish", args=[iteration.id]))
    assert "Delete project</button>" in owner_client.get(url).content.decode()
    assert owner_client.post(url).status_code == 302 and not Project.objects.filter(id=project.id).exists()


def test_train_dialog_shows_the_choice_and_the_dataset(owner_client, project):
    response = owner_client.get(reverse("training:train", args=[project.id]))
    content = response.content.decode()
    assert response.status_code == 200 and "Quick training" in content and "Advanced training" in content
    assert 'name="budget_minutes"' in content and "Hemlock" in content


def test_train_dialog_says_how_long_detection_takes(owner_client, owner):  # type: ignore[no-untyped-def]
    from projects.domains import DEFAULT_DETECTION_DOMAIN
    from tests.factories import make_project

    project = make_project(owner, name="Kitchen", project_type="detection", domain_id=DEFAULT_DETECTION_DOMAIN)
    content = owner_client.get(reverse("training:train", args=[project.id])).content.decode()
    assert "Quick training" in content and "Seconds to a minute on a 2-core server" in content
    assert "Seconds. A head" not in content and "Minutes" not in content


def _detection_iteration(owner, settings):  # type: ignore[no-untyped-def]
    from projects.domains import DEFAULT_DETECTION_DOMAIN
    from tests.factories import make_project, make_tag
    from tests.training.builders import add_image

    settings.TAGSIGHT_MIN_BOXES_PER_TAG = 2
    project = make_project(owner, name="Kitchen", project_type="detection", domain_id=DEFAULT_DETECTION_DOMAIN)
    fork = make_tag(project, "fork")
    box = {"left": 0.2, "top": 0.2, "width": 0.4, "height": 0.4}
    images = [add_image(project, regions=[{**box, "tag": fork.id}]) for _ in range(2)]
    iteration = iteration_queue(project=project, requested_by=owner)
    true = {"tag": "fork", **box}
    vps = [  # image 1: found (IoU 0.6); image 2: a box beside the fork (IoU 0.14) — a false positive and a miss
        {"id": str(images[0].id), "tags": ["fork"], "boxes": [true],
         "predictions": [{"tag": "fork", "probability": 0.9,
                          "box": {"left": 0.25, "top": 0.2, "width": 0.4, "height": 0.4}}]},
        {"id": str(images[1].id), "tags": ["fork"], "boxes": [true],
         "predictions": [{"tag": "fork", "probability": 0.8,
                          "box": {"left": 0.5, "top": 0.2, "width": 0.4, "height": 0.4}}]},
    ]
    metrics = {"task": "detection", "tags": ["fork"], **compute_metrics("detection", ["fork"], vps),
               "validation_predictions": vps, "split": {"method": "given", "seed": 0}, "backbone": "lite0"}
    now = timezone.now()
    Iteration.objects.filter(id=iteration.id).update(status=Iteration.Status.COMPLETED, metrics=metrics,
                                                     started=now, finished=now)
    iteration.refresh_from_db()
    return iteration


def test_detection_performance_has_an_iou_slider_and_map(owner_client, owner, settings):
    iteration = _detection_iteration(owner, settings)
    content = owner_client.get(reverse("training:iteration-detail", args=[iteration.id])).content.decode()
    assert 'name="iou"' in content and "mAP" in content
    # Detection's confusion counts boxes per tag: the fork found, one predicted beside it, one missed.
    assert 'id="confusion"' in content and "cell=fork%7Cfp" in content and "cell=fork%7Cfn" in content
    url = reverse("training:iteration-performance", args=[iteration.id])
    strict = owner_client.get(url, {"threshold": "0.5", "iou": "0.5"}, **HX).content.decode()
    loose = owner_client.get(url, {"threshold": "0.5", "iou": "0.1"}, **HX).content.decode()
    assert 'id="overall-recall">50.0%' in strict and 'id="overall-recall">100.0%' in loose


def test_detection_error_gallery_draws_true_and_predicted_boxes(owner_client, owner, settings):
    iteration = _detection_iteration(owner, settings)
    content = owner_client.get(reverse("training:iteration-errors", args=[iteration.id])).content.decode()
    assert content.count('class="err-card"') == 1
    assert 'class="missed"' in content and 'class="fp"' in content and "Fix the boxes" in content


def test_detection_retag_is_a_400_and_keeps_the_boxes(owner_client, owner, settings):
    from labeling.models import Region

    iteration = _detection_iteration(owner, settings)
    project = iteration.project
    image = project.images.order_by("created").first()
    spoon = project.tags.create(name="spoon")
    url = reverse("training:iteration-retag", args=[iteration.id])
    for extra in ({}, HX):
        response = owner_client.post(url, {"image": str(image.id), "tag": str(spoon.id), "mode": "set"}, **extra)
        assert response.status_code == 400, response
        assert b"labeler" in response.content
    assert list(Region.objects.filter(image=image).values_list("tag__name", flat=True)) == ["fork"]
    assert not image.tags.filter(name="spoon").exists()


def test_detection_galleries_link_to_the_labeler_and_never_offer_a_retag(owner_client, owner, settings):
    iteration = _detection_iteration(owner, settings)
    retag = reverse("training:iteration-retag", args=[iteration.id])
    errors_page = owner_client.get(reverse("training:iteration-errors", args=[iteration.id])).content.decode()
    assert retag not in errors_page and "Fix the boxes" in errors_page


def test_admin_lists_iterations(client, owner, project, django_user_model):
    admin = django_user_model.objects.create_superuser(username="root", password="root-pass-123")
    client.force_login(admin)
    iteration = _completed(project, owner)
    assert client.get(reverse("admin:training_iteration_changelist")).status_code == 200
    assert client.get(reverse("admin:training_iteration_change", args=[iteration.id])).status_code == 200


def test_durations_read_in_tenths_under_ten_seconds_and_minutes_above():
    from training.templatetags.training_tags import duration

    assert duration(2.34) == "2.3 s"
    assert duration(0.04) == "0.0 s"
    assert duration(75) == "1 min 15 s"
    assert duration(None) == "—"


def test_the_method_panel_says_whether_the_heads_penalty_was_searched_or_fixed(owner_client, owner, project):
    from training.ml.classification import WEIGHT_DECAYS

    iteration = _completed(project, owner)
    searched = {"folds": 5, "candidates": list(WEIGHT_DECAYS)}
    for metrics, said in (
        ({"weight_decay": 0.1, "weight_decay_search": searched},
         "its L2 penalty 0.1 chosen by a cross-validation (up to 5 folds) over the images it was trained on: the "
         "penalty whose held-out log-loss is lowest, among 0.001, 0.01, 0.1, 1.0, 10.0."),
        ({"weight_decay": 0.001, "weight_decay_search": None},
         "its L2 penalty 0.001, fixed: in a project of more than 1,000 images the penalty is not searched."),
    ):
        Iteration.objects.filter(id=iteration.id).update(metrics={**iteration.metrics, **metrics},
                                                         finished=timezone.now())  # a new key in the page's cache
        content = owner_client.get(reverse("training:iteration-detail", args=[iteration.id])).content.decode()
        assert said in content
    Iteration.objects.filter(id=iteration.id).update(metrics={**iteration.metrics, "weight_decay": None},
                                                     finished=timezone.now())
    content = owner_client.get(reverse("training:iteration-detail", args=[iteration.id])).content.decode()
    assert 'data-testid="head-penalty"' not in content  # a fine-tuned head, or an iteration from before


def test_detection_method_panel_speaks_of_map_not_accuracy(owner_client, owner, settings):
    """Issue #11 item 8: "How the numbers were made" printed "accuracy — ± —" for a detector."""
    iteration = _detection_iteration(owner, settings)
    metrics = {**iteration.metrics, "split": {"method": "kfold", "seed": 0, "k": 3},
               "kfold": {"k": 3, "map_mean": 0.8, "map_std": 0.05, "accuracy_mean": None, "accuracy_std": None}}
    Iteration.objects.filter(id=iteration.id).update(metrics=metrics)
    content = owner_client.get(reverse("training:iteration-detail", args=[iteration.id])).content.decode()
    method = content[content.index("How the numbers were made"):]
    assert "accuracy" not in method.lower() and "mAP@50% 80.0% ± 5.0% over the folds" in method
    assert "Detection is scored on boxes" in method


def test_detection_matrix_cells_open_the_images_at_the_sliders_iou(owner_client, owner, settings):
    """Issue #11 item 8: the detector's matrix cells link to (and list) the images at the IoU the page shows."""
    iteration = _detection_iteration(owner, settings)
    beside = iteration.metrics["validation_predictions"][1]["id"]  # its box overlaps the fork by IoU 0.14
    url = reverse("training:iteration-performance", args=[iteration.id])
    loose = owner_client.get(url, {"threshold": "0.5", "iou": "0.1"}, **HX).content.decode()
    assert "cell=fork%7Cfn&amp;threshold=0.5&amp;iou=0.1" in loose
    cell = reverse("training:iteration-images", args=[iteration.id])
    assert beside in owner_client.get(cell, {"cell": "fork|fn", "threshold": "0.5", "iou": "0.5"}).content.decode()
    assert beside not in owner_client.get(cell, {"cell": "fork|fn", "threshold": "0.5", "iou": "0.1"}).content.decode()


def test_detection_shows_confusions_between_tags_that_open_their_images(owner_client, owner, settings):
    """Issue #11 item 8: besides TP/FP/FN per tag, a detector's box matrix between tags (and "no box")."""
    iteration = _detection_iteration(owner, settings)
    beside = iteration.metrics["validation_predictions"][1]["id"]
    url = reverse("training:iteration-performance", args=[iteration.id])
    html = owner_client.get(url, {"threshold": "0.5", "iou": "0.5"}, **HX).content.decode()
    table = html[html.index('id="confusion-tags"'):]
    assert "no box" in table and "cell=fork%7C&amp;threshold=0.5&amp;iou=0.5" in table  # the missed fork
    cell = reverse("training:iteration-images", args=[iteration.id])
    assert beside in owner_client.get(cell, {"cell": "fork|", "iou": "0.5"}).content.decode()
    assert beside in owner_client.get(cell, {"cell": "|fork", "iou": "0.5"}).content.decode()  # found on nothing


def test_an_advanced_iteration_shows_quick_and_advanced_side_by_side(owner_client, owner, project):  # type: ignore[no-untyped-def]
    iteration = _completed(project, owner)
    comparison = {"images": 8, "quick": {"accuracy": 0.875, "log_loss": 0.31},
                  "advanced": {"accuracy": 1.0, "log_loss": 0.12}}
    metrics = {**iteration.metrics, "mode": "advanced", "mode_delivered": "advanced", "comparison": comparison}
    Iteration.objects.filter(id=iteration.id).update(metrics=metrics)
    caches["shared"].clear()
    html = owner_client.get(reverse("training:iteration-detail", args=[iteration.id])).content.decode()
    table = html[html.index('id="mode-comparison"'):]
    table = table[: table.index("</table>")]
    quick, advanced = table.index('data-mode="quick"'), table.index('data-mode="advanced"')
    assert "87.5%" in table[quick:advanced] and "100.0%" in table[advanced:]
    assert "<strong>delivered</strong>" in table[advanced:] and "delivered" not in table[quick:advanced]
    assert "same 8 validation images" in html and "first fold" not in html and 'id="recipe-search"' not in html
    recipes = [{"recipe": "EfficientNet-Lite0 at 224 px, centre crop", "accuracy": 0.875, "log_loss": 0.31,
                "seconds": 2.0, "chosen": False},
               {"recipe": "EfficientNet-Lite2 at 260 px, centre crop", "accuracy": 1.0, "log_loss": 0.12,
                "seconds": 5.5, "chosen": True}]
    Iteration.objects.filter(id=iteration.id).update(
        metrics={**metrics, "comparison": {**comparison, "recipes": recipes, "first_fold": True}})
    caches["shared"].clear()
    html = owner_client.get(reverse("training:iteration-detail", args=[iteration.id])).content.decode()
    assert "(fine-tuning is evaluated on the first fold)" in html
    assert "figures at the top are nested" not in html
    assert "Each recipe judged on the same 8 validation images (the first row is quick's)." in html
    Iteration.objects.filter(id=iteration.id).update(  # the recipes were judged out of fold on every image
        metrics={**metrics, "comparison": {**comparison, "recipes": recipes, "first_fold": True,
                                           "recipe_images": 20}})
    caches["shared"].clear()
    html = owner_client.get(reverse("training:iteration-detail", args=[iteration.id])).content.decode()
    assert ("Each recipe judged on the same 20 validation images (the first row is quick's, on these 20 images: "
            "the side-by-side above is on fine-tuning's 8).") in html
    Iteration.objects.filter(id=iteration.id).update(  # advanced detection reports nested figures, and says so
        metrics={**metrics, "comparison": {**comparison, "nested": {"map": 0.9375, "halves": ["quick", "advanced"]}}})
    caches["shared"].clear()
    html = owner_client.get(reverse("training:iteration-detail", args=[iteration.id])).content.decode()
    assert "The figures at the top are nested" in html and "(mAP@50% 93.8%)" in html
    Iteration.objects.filter(id=iteration.id).update(
        metrics={**metrics, "comparison": {**comparison, "recipes": recipes, "first_fold": True}})
    caches["shared"].clear()
    html = owner_client.get(reverse("training:iteration-detail", args=[iteration.id])).content.decode()
    tried = html[html.index('id="recipe-search"'):]
    tried = tried[: tried.index("</table>")]
    lite0, lite2 = tried.index("Lite0 at 224 px"), tried.index("Lite2 at 260 px")
    assert "87.5%" in tried[lite0:lite2] and "chosen" not in tried[lite0:lite2]
    assert "100.0%" in tried[lite2:] and "<strong>chosen</strong>" in tried[lite2:]
    Iteration.objects.filter(id=iteration.id).update(metrics={**iteration.metrics, "comparison": None})
    caches["shared"].clear()  # a done iteration's metrics never change, so the page cached them: rewritten here
    quick_only = owner_client.get(reverse("training:iteration-detail", args=[iteration.id])).content.decode()
    assert 'id="mode-comparison"' not in quick_only
