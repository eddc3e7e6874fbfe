"""Quick Test, Predictions tab and export views: happy paths, errors (bad files, SSRF), strangers get 404."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from tests.factories import make_image_bytes
from tests.predictions.builders import TEST_IMAGE, trained_quickstart

pytestmark = [pytest.mark.django_db, pytest.mark.slow]
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def trained(owner):  # type: ignore[no-untyped-def]
    return trained_quickstart(owner, publish_name="treesModel")


@pytest.fixture
def image_server() -> Iterator[tuple[str, dict[str, tuple[str, bytes]]]]:
    """A local HTTP server answering {path: (content type, body)}; 404 for anything else."""
    routes: dict[str, tuple[str, bytes]] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            if self.path not in routes:
                self.send_response(404)
                self.end_headers()
                return
            content_type, body = routes[self.path]
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", routes
    server.shutdown()


def _qt(client, project, **data):  # type: ignore[no-untyped-def]
    return client.post(reverse("predictions:quick-test", args=[project.id]), data, **HTMX)


def test_quick_test_page_and_top_bar_button(owner_client, trained) -> None:  # type: ignore[no-untyped-def]
    project, iteration = trained
    url = reverse("predictions:quick-test", args=[project.id])
    detail = owner_client.get(reverse("projects:project-detail", args=[project.id])).content.decode()
    assert f'href="{url}"' in detail and 'data-testid="quick-test"' in detail
    assert reverse("predictions:prediction-list", args=[project.id]) in detail  # the Predictions tab
    page = owner_client.get(url).content.decode()
    assert "Drop an image here" in page and iteration.name in page
    assert "static:hemlock-test.jpg" in page and "image:" in page  # shipped and validation samples


def test_quick_test_sample_file_and_timing(owner_client, trained) -> None:  # type: ignore[no-untyped-def]
    from predictions.models import StoredPrediction

    project, iteration = trained
    html = _qt(owner_client, project, sample="static:hemlock-test.jpg", iteration=str(iteration.id)).content.decode()
    assert 'data-testid="qt-bars"' in html and " ms" in html
    assert html.index('data-tag="Hemlock"') < html.index('data-tag="Japanese Cherry"')
    upload = SimpleUploadedFile("t.jpg", TEST_IMAGE.read_bytes(), content_type="image/jpeg")
    html = _qt(owner_client, project, file=upload).content.decode()
    assert html.index('data-tag="Hemlock"') < html.index('data-tag="Japanese Cherry"')
    assert StoredPrediction.objects.filter(project=project, source="quicktest").count() == 2
    # Without htmx: the whole page, same answer.
    quick_test = reverse("predictions:quick-test", args=[project.id])
    full = owner_client.post(quick_test, {"sample": "static:hemlock-test.jpg"})
    assert full.status_code == 200 and "<html" in full.content.decode()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"file": SimpleUploadedFile("x.jpg", b"this is not a picture")}, "Not a supported image"),
        ({"file": SimpleUploadedFile("x.png", make_image_bytes()[:40])}, "corrupt"),
        ({"file": SimpleUploadedFile("x.jpg", b"\xff" * (4 * 1024 * 1024 + 10))}, "larger than the 4 MB limit"),
        ({}, "Choose an image file"),
        ({"url": "http://169.254.169.254/latest/meta-data"}, "non-public address"),
        ({"url": "http://127.0.0.1:9/x.jpg"}, "non-public address"),
        ({"url": "http://10.0.0.1/x.jpg"}, "non-public address"),
        ({"url": "ftp://example.com/x.jpg"}, "Only http and https"),
        ({"sample": "static:../../secret.txt"}, None),
    ],
)
def test_quick_test_errors_are_clear(owner_client, trained, data, message) -> None:  # type: ignore[no-untyped-def]
    from predictions.models import StoredPrediction

    project, _ = trained
    response = _qt(owner_client, project, **data)
    if message is None:
        assert response.status_code == 404
    else:
        html = response.content.decode()
        assert 'data-testid="qt-error"' in html and message in html, html
        full = owner_client.post(reverse("predictions:quick-test", args=[project.id]), data)
        assert full.status_code in (400, 200)
    assert StoredPrediction.objects.count() == 0


def test_quick_test_url_fetch(owner_client, trained, image_server, settings) -> None:  # type: ignore[no-untyped-def]
    project, _ = trained
    base, routes = image_server
    routes["/tree.jpg"] = ("image/jpeg", TEST_IMAGE.read_bytes())
    routes["/page.html"] = ("text/html", b"<html>hi</html>")
    routes["/big.jpg"] = ("image/jpeg", b"\xff" * (settings.TAGSIGHT_MAX_IMAGE_BYTES + 1))
    refused = _qt(owner_client, project, url=f"{base}/tree.jpg").content.decode()
    assert "non-public address" in refused  # loopback, until the setting allows it
    settings.TAGSIGHT_ALLOW_PRIVATE_URLS = True
    html = _qt(owner_client, project, url=f"{base}/tree.jpg").content.decode()
    assert html.index('data-tag="Hemlock"') < html.index('data-tag="Japanese Cherry"')
    assert "not an image" in _qt(owner_client, project, url=f"{base}/page.html").content.decode()
    assert "larger than" in _qt(owner_client, project, url=f"{base}/big.jpg").content.decode()
    assert "HTTP 404" in _qt(owner_client, project, url=f"{base}/missing.jpg").content.decode()


def test_quick_test_without_a_trained_iteration(owner_client, owner) -> None:  # type: ignore[no-untyped-def]
    from tests.factories import make_project

    project = make_project(owner)
    page = owner_client.get(reverse("predictions:quick-test", args=[project.id])).content.decode()
    assert "no trained iteration" in page
    html = _qt(owner_client, project, sample="static:hemlock-test.jpg").content.decode()
    assert "train it first" in html


def test_predictions_tab_detail_add_and_delete(owner_client, trained) -> None:  # type: ignore[no-untyped-def]
    from predictions.models import StoredPrediction
    from predictions.services import prediction_run
    from projects.models import Image, Tag

    project, iteration = trained
    first = prediction_run(project=project, iteration=iteration, data=TEST_IMAGE.read_bytes(), store=True,
                           source="api").stored
    other = make_image_bytes(size=(100, 80), color=(90, 140, 20), fmt="JPEG")
    second = prediction_run(project=project, iteration=iteration, data=other, store=True).stored
    listing = owner_client.get(reverse("predictions:prediction-list", args=[project.id]))
    html = listing.content.decode()
    assert html.count('data-testid="prediction-tile"') == 2 and "Prediction API" in html
    first_uncertain = first if first.uncertainty >= second.uncertainty else second
    assert html.index(str(first_uncertain.id)) < html.index(str((second if first_uncertain == first else first).id))
    hemlock_only = owner_client.get(reverse("predictions:prediction-list", args=[project.id]),
                                    {"tag": "Hemlock", "min": "50", "iteration": str(iteration.id)}, **HTMX)
    assert 'id="prediction-grid"' in hemlock_only.content.decode()
    assert owner_client.get(reverse("predictions:prediction-file", args=[first.id, "thumbnail"])).status_code == 200
    assert owner_client.get(reverse("predictions:prediction-file", args=[first.id, "original"])).status_code == 200

    detail = owner_client.get(reverse("predictions:prediction-detail", args=[first.id])).content.decode()
    hemlock = Tag.objects.get(project=project, name="Hemlock")
    assert f'value="{hemlock.id}" checked' in detail  # the predicted tag is pre-selected
    before = Image.objects.filter(project=project).count()
    empty = owner_client.post(reverse("predictions:prediction-add", args=[second.id]), {})
    assert empty.status_code == 400 and "Choose at least one tag" in empty.content.decode()
    added = owner_client.post(reverse("predictions:prediction-add", args=[second.id]), {"tags": [str(hemlock.id)]})
    assert added.status_code == 302
    assert Image.objects.filter(project=project).count() == before + 1
    assert not StoredPrediction.objects.filter(id=second.id).exists()

    third = prediction_run(project=project, iteration=iteration, store=True,
                           data=make_image_bytes(size=(90, 80), color=(9, 14, 200), fmt="JPEG")).stored
    label = owner_client.post(reverse("predictions:prediction-add", args=[third.id]),
                              {"tags": [str(hemlock.id)], "then": "label"})
    new_image = Image.objects.filter(project=project).order_by("-created").first()
    assert label.status_code == 302 and label["Location"] == reverse("labeling:labeler", args=[new_image.id])

    deleted = owner_client.post(reverse("predictions:prediction-delete", args=[first.id]))
    assert deleted.status_code == 302 and not StoredPrediction.objects.exists()


def test_bulk_delete(owner_client, trained) -> None:  # type: ignore[no-untyped-def]
    from predictions.models import StoredPrediction
    from predictions.services import prediction_run

    project, iteration = trained
    ids = [str(prediction_run(project=project, iteration=iteration, data=TEST_IMAGE.read_bytes(), store=True).id)
           for _ in range(2)]
    response = owner_client.post(reverse("predictions:predictions-delete", args=[project.id]), {"ids": ids})
    assert response.status_code == 302 and not StoredPrediction.objects.exists()


def test_iteration_page_shows_prediction_url_and_export(owner_client, owner, trained) -> None:  # type: ignore[no-untyped-def]
    from workspaces.services import personal_keys

    project, iteration = trained
    html = owner_client.get(reverse("training:iteration-detail", args=[iteration.id])).content.decode()
    key = personal_keys(user=owner).prediction_key
    assert 'data-testid="prediction-url"' in html and key in html
    assert f"/customvision/v3.0/Prediction/{project.id}/classify/iterations/treesModel/image" in html
    assert "classify_image" in html and 'data-testid="export-onnx"' in html
    assert "Send an image (up to 4 MB)" in html  # the prediction limit, from settings
