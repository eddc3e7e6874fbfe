"""What each domain exports, told the same way everywhere: get_domains' exportablePlatforms, an iteration's
exportableTo, the export card's rows, and the refusals of export_iteration (Azure's unsupported-platform code)."""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse

from tests.azure_contract.conftest import _api_for
from tests.training.builders import completed_iteration, tagged_project

pytestmark = pytest.mark.django_db

GENERAL = "ee85a74c-405e-4adc-bb47-ffa8ca0c9f31"
COMPACT = "0732100f-1a38-4e49-a514-c9b44c697ab5"
UNSUPPORTED = "BadRequestProjectUnsupportedExportPlatform"


def _iteration(owner, domain: str):  # type: ignore[no-untyped-def]
    project = tagged_project(owner, domain_id=uuid.UUID(domain))
    return project, completed_iteration(project, owner=owner)


def test_compact_domains_export_everywhere_and_the_others_onnx_only(owner) -> None:  # type: ignore[no-untyped-def]
    from projects.domains import EXPORT_FLAVORS

    domains = {(d["name"], d["type"]): d for d in _api_for(owner).get("/domains").json()}
    for (name, _), d in domains.items():
        expected = list(EXPORT_FLAVORS) if "(compact)" in name else ["ONNX"]
        assert d["exportablePlatforms"] == expected and d["exportable"] is True, d
        assert d["modelInformation"]["description"], d
    said = {key: d["modelInformation"]["description"] for key, d in domains.items()}
    assert "trains exactly what General trains" in said[("Food", "Classification")]
    assert "trains exactly what General (object detection) trains" in said[("Logo", "ObjectDetection")]
    assert "288 px, centre crop, GeM pooling" in said[("Food", "Classification")]
    assert "at 288 px" in said[("General", "Classification")] and "GeM" in said[("General", "Classification")]
    assert "Lite0 at 320 px, average-pooled" in said[("Retail", "Classification")]
    assert "at 224 px" in said[("General (compact)", "Classification")]
    assert "448 px instead of 320 px" in said[("Products on Shelves", "ObjectDetection")]
    assert "Lite2" in said[("General [A1]", "Classification")]


def test_iteration_exportable_to_follows_its_domain(owner) -> None:  # type: ignore[no-untyped-def]
    from projects.domains import EXPORT_FLAVORS

    api = _api_for(owner)
    for domain, expected in [(GENERAL, ["ONNX"]), (COMPACT, list(EXPORT_FLAVORS))]:
        project, iteration = _iteration(owner, domain)
        body = api.get(f"/projects/{project.id}/iterations/{iteration.id}").json()
        assert body["exportableTo"] == expected and body["exportable"] is True, body


@pytest.mark.parametrize(
    ("platform", "flavor", "says"),
    [
        ("VAIDK", "", "not supported by Tagsight"),
        ("Nope", "", "not one of Azure's"),
        ("ONNX", "ARM", "flavor 'ARM' is not supported"),
        ("ONNX", "ONNX11", "flavor 'ONNX11' is not supported"),
        ("TensorFlow", "ONNX12", "use TensorFlowNormal or TensorFlowLite"),
    ],
)
def test_export_iteration_refuses_with_azures_code(owner, platform, flavor, says) -> None:  # type: ignore[no-untyped-def]
    project, iteration = _iteration(owner, COMPACT)
    response = _api_for(owner).post(
        f"/projects/{project.id}/iterations/{iteration.id}/export?platform={platform}&flavor={flavor}"
    )
    assert response.status_code == 400 and response.json()["code"] == UNSUPPORTED, response.content
    assert says in response.json()["message"]


def test_tensorflow_takes_azures_default_flavor_and_only_from_a_compact_domain(owner) -> None:  # type: ignore[no-untyped-def]
    from predictions.exports import export_option

    _, iteration = _iteration(owner, COMPACT)
    assert export_option(iteration=iteration, platform="tensorflow", flavor="tensorflowlite") == (
        "TensorFlow", "TensorFlowLite")
    assert export_option(iteration=iteration, platform="TensorFlow", flavor="") == ("TensorFlow", "TensorFlowNormal")
    project, iteration = _iteration(owner, GENERAL)
    refused = _api_for(owner).post(f"/projects/{project.id}/iterations/{iteration.id}/export?platform=TensorFlow"
                       "&flavor=TensorFlowLite")
    assert refused.status_code == 400 and refused.json()["code"] == UNSUPPORTED, refused.content
    assert "not a compact domain" in refused.json()["message"] and "TensorFlow" in refused.json()["message"]


def test_export_card_offers_what_the_domain_exports(owner, owner_client) -> None:  # type: ignore[no-untyped-def]
    from predictions.exports import export_options

    for domain in (GENERAL, COMPACT):
        _, iteration = _iteration(owner, domain)
        html = owner_client.get(reverse("predictions:iteration-export", args=[iteration.id])).content.decode()
        options = export_options(iteration=iteration)
        for platform, flavor in options:
            testid = "-".join(["export", platform.lower(), *([flavor.lower()] if flavor else [])])
            assert f'data-testid="{testid}"' in html, (domain, testid)
        assert html.count('<button type="submit" name="platform"') == len(options)
        assert ("not a compact domain" in html) == (domain == GENERAL)
    assert ("ONNX", "ONNX10") in options and ("ONNX", "") in options


def test_export_card_shows_each_export_and_the_int8_figures(owner, owner_client) -> None:  # type: ignore[no-untyped-def]
    from predictions.models import Export

    _, iteration = _iteration(owner, COMPACT)
    parity = {"images": 8, "max_abs_diff": 0.0, "passed": True, "int8_top1_agreement": 0.875,
              "int8_map_delta": -0.02, "int8_speedup": 0.94, "int8_meets_bar": False,
              "int8_short_of": ["top-1 agreement ≥ 0.99", "mAP within 0.01", "≥ 1.8× speed"]}
    done = Export.objects.create(iteration=iteration, platform="ONNX", status=Export.Status.DONE, file="x.zip",
                                 size=2048, parity=parity)
    Export.objects.create(iteration=iteration, platform="DockerFile", flavor="ARM", status=Export.Status.EXPORTING)
    html = owner_client.get(reverse("predictions:iteration-export", args=[iteration.id])).content.decode()
    assert reverse("predictions:export-download", args=[done.id]) in html
    assert "int8 model: top-1 agreement 0.875, mAP Δ -0.020, 0.94× fp32's speed (below the bar" in html
    assert "(below the bar: top-1 agreement ≥ 0.99, mAP within 0.01, ≥ 1.8× speed)" in html
    # The parity verdict sits with the parity figure, not after the int8 model's.
    assert html.index('visually-hidden">passed') < html.index("int8 model: top-1 agreement")
    assert 'hx-trigger="every 1s"' in html  # the ARM container is being built: the card polls
    assert 'data-testid="export-dockerfile-arm"' not in html  # in flight: no second button
    assert 'data-testid="export-dockerfile-linux"' in html and 'data-testid="export-onnx"' not in html
