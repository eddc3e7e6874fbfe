"""Data Health services and pages: a real check (embeddings, hashes, cleanlab) of a project with injected faults,
the page listing them, the leakage warning on the iteration page, and the one-click fixes with their rights."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from tests.health.datahealth_faults import FaultyProject, faulty_project

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def _check(project: Any) -> Any:
    """Queue a check and run it here, as the worker's task would."""
    from health.datahealth import datahealth_queue, datahealth_run

    run = datahealth_queue(project=project)
    datahealth_run(run_id=run.id)
    run.refresh_from_db()
    assert run.status == "Completed", run.error
    return run


def _leaky_iteration(faults: FaultyProject) -> Any:
    """A Completed iteration whose hold-out split put the first copy in validation and its original in training."""
    from training.models import Iteration

    original, copy = faults.copies[0]
    ids = [str(i.id) for i in faults.project.images.all()]
    paired = {str(i.id) for pair in faults.copies for i in pair}
    val = [str(copy.id)] + [i for i in ids if i not in paired][:4]
    return Iteration.objects.create(
        project=faults.project, number=1, name="Iteration 1", status=Iteration.Status.COMPLETED,
        domain_id=faults.project.domain_id, backbone="lite0",
        metrics={"split": {"method": "holdout", "seed": 0, "k": 1, "val_ids": val,
                           "train_ids": [i for i in ids if i not in val]}},
    )


def _member(project: Any, django_user_model: Any, role: str) -> Client:
    from workspaces.services import member_add

    user = django_user_model.objects.create_user(username=role, password="x-pass-123456")
    member_add(workspace=project.workspace, user=user, role=role)
    client = Client()
    client.force_login(user)
    return client


def test_check_finds_the_injected_faults(owner) -> None:  # type: ignore[no-untyped-def]
    faults = faulty_project(owner)
    leaky = _leaky_iteration(faults)
    run = _check(faults.project)
    findings = list(run.findings.all())
    clusters = [set(f.image_ids) for f in findings if f.kind == "duplicate"]
    for original, copy in faults.copies:
        assert any({str(original.id), str(copy.id)} <= c for c in clusters), clusters
    assert len(clusters) == 2
    suspects = [f for f in sorted(findings, key=lambda f: -f.score) if f.kind == "mislabel"]
    top = {f.image_ids[0] for f in suspects[: 2 * len(faults.flipped)]}
    assert {str(i.id) for i in faults.flipped} <= top
    wrong = next(f for f in suspects if f.image_ids[0] == str(faults.flipped[0].id))
    assert (wrong.data["given_name"], wrong.data["suggested_name"]) == ("Japanese Cherry", "Hemlock")
    leaks = [f for f in findings if f.kind == "leakage"]
    assert [set(f.image_ids) for f in leaks] == [{str(faults.copies[0][0].id), str(faults.copies[0][1].id)}]
    assert run.summary["leakage"] == 1 and run.summary["iteration_id"] == str(leaky.id)
    assert {r["tag"]: r["count"] for r in run.summary["balance"]} == {"Hemlock": 11, "Japanese Cherry": 11}
    assert all(r["below_advised"] and not r["below_minimum"] for r in run.summary["balance"])


def test_page_lists_findings_and_the_iteration_page_warns_of_leakage(owner, owner_client) -> None:  # type: ignore[no-untyped-def]
    faults = faulty_project(owner)
    leaky = _leaky_iteration(faults)
    _check(faults.project)
    page = owner_client.get(reverse("health:datahealth", args=[faults.project.id])).content.decode()
    assert page.count('data-testid="duplicate-cluster"') == 2
    assert page.count('data-testid="leakage-pair"') == 1
    assert 'data-testid="mislabel"' in page and "Tag Hemlock" in page
    assert page.count('data-testid="balance-row"') == 2 and "below the advised 50" in page
    detail = owner_client.get(reverse("training:iteration-detail", args=[leaky.id])).content.decode()
    assert 'data-testid="leakage-warning"' in detail and "1 near-duplicate pair is split" in detail


def test_keep_one_confirms_then_deletes_the_other_copies(owner, owner_client) -> None:  # type: ignore[no-untyped-def]
    from health.datahealth_models import DataHealthFinding
    from projects.models import Image

    faults = faulty_project(owner)
    _check(faults.project)
    original, copy = faults.copies[0]
    finding = next(f for f in DataHealthFinding.objects.filter(kind="duplicate") if str(copy.id) in f.image_ids)
    url = reverse("health:datahealth-keep-one", args=[faults.project.id])
    confirm = owner_client.get(url, {"finding": finding.id, "keep": str(original.id)})
    assert confirm.status_code == 200 and b"Delete 1 image" in confirm.content
    assert Image.objects.filter(id=copy.id).exists()  # asking deletes nothing
    response = owner_client.post(url, {"finding": finding.id, "keep": str(original.id)})
    assert response.status_code == 302
    assert Image.objects.filter(id=original.id).exists() and not Image.objects.filter(id=copy.id).exists()
    page = owner_client.get(reverse("health:datahealth", args=[faults.project.id])).content.decode()
    assert page.count('data-testid="duplicate-cluster"') == 1
    again = owner_client.post(url, {"finding": finding.id, "keep": str(original.id)}, follow=True)
    assert b"nothing was deleted" in again.content


def test_fix_tag_retags_the_image(owner, owner_client) -> None:  # type: ignore[no-untyped-def]
    from health.datahealth_models import DataHealthFinding

    faults = faulty_project(owner)
    _check(faults.project)
    wrong = faults.flipped[0]
    finding = next(f for f in DataHealthFinding.objects.filter(kind="mislabel") if f.image_ids == [str(wrong.id)])
    response = owner_client.post(reverse("health:datahealth-fix-tag", args=[faults.project.id]),
                                 {"finding": finding.id}, **HX)
    assert response.status_code == 200 and b"Tagged Hemlock" in response.content
    assert [t.name for t in wrong.tags.all()] == ["Hemlock"]
    finding.refresh_from_db()
    assert finding.resolved


def test_rights_label_fixes_tags_train_deletes_and_rechecks(owner, django_user_model) -> None:  # type: ignore[no-untyped-def]
    from health.datahealth_models import DataHealthFinding
    from projects.models import Image

    faults = faulty_project(owner)
    _check(faults.project)
    project = faults.project
    labeler, viewer = _member(project, django_user_model, "labeler"), _member(project, django_user_model, "viewer")
    cluster = DataHealthFinding.objects.filter(kind="duplicate").first()
    assert cluster is not None
    keep = reverse("health:datahealth-keep-one", args=[project.id])
    assert labeler.post(keep, {"finding": cluster.id, "keep": cluster.image_ids[0]}).status_code == 403
    assert Image.objects.filter(project=project).count() == 22
    mislabel = DataHealthFinding.objects.filter(kind="mislabel").first()
    assert mislabel is not None
    fix = reverse("health:datahealth-fix-tag", args=[project.id])
    assert viewer.post(fix, {"finding": mislabel.id}).status_code == 403
    assert labeler.post(fix, {"finding": mislabel.id}).status_code == 302
    check = reverse("health:datahealth-check", args=[project.id])
    assert labeler.post(check).status_code == 403
    page = labeler.get(reverse("health:datahealth", args=[project.id])).content.decode()
    assert 'data-testid="keep-one"' not in page and 'data-testid="recheck"' not in page


def test_recheck_queues_one_run_and_the_page_polls_it(owner, owner_client) -> None:  # type: ignore[no-untyped-def]
    from health.datahealth_models import DataHealthRun
    from tests.training.builders import tagged_project

    project = tagged_project(owner)
    url = reverse("health:datahealth", args=[project.id])
    assert b"No check yet" in owner_client.get(url).content
    check = reverse("health:datahealth-check", args=[project.id])
    assert owner_client.post(check).status_code == 302
    assert owner_client.post(check).status_code == 302
    assert DataHealthRun.objects.filter(project=project, status="Queued").count() == 1
    page = owner_client.get(url).content.decode()
    assert "Waiting for a worker" in page and "part=status" in page
    status = owner_client.get(url, {"part": "status"}, **HX)
    assert status.status_code == 200
    run = DataHealthRun.objects.get(project=project)
    from health.datahealth import datahealth_run

    datahealth_run(run_id=run.id)
    done = owner_client.get(url, {"part": "status"}, **HX)
    assert done.status_code == 286 and done["HX-Refresh"] == "true"
    page = owner_client.get(url).content.decode()
    assert "Checked " in page and 'data-testid="balance-row"' in page


def test_training_completed_event_queues_a_check(owner, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    from health.datahealth import on_training_event
    from health.datahealth_models import DataHealthRun
    from tests.training.builders import completed_iteration, tagged_project
    from training.events import TRAINING_COMPLETED, TRAINING_FAILED

    project = tagged_project(owner)
    iteration = completed_iteration(project, owner=owner)
    on_training_event(TRAINING_FAILED, iteration_id=str(iteration.id))
    assert not DataHealthRun.objects.exists()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        on_training_event(TRAINING_COMPLETED, iteration_id=str(iteration.id))
    run = DataHealthRun.objects.get(project=project)
    assert run.status == "Queued" and run.iteration_id == iteration.id and len(callbacks) == 1


def test_detection_check_finds_box_faults(owner, owner_client) -> None:  # type: ignore[no-untyped-def]
    """Forks and scissors (8 + 8, tests/data) with one box retagged, one covering the image, one tiny, one doubled."""
    import json

    from tests.factories import DATASETS, make_project, make_tag
    from tests.training.builders import add_image

    folder = DATASETS / "azure-quickstart" / "detection"
    manifest = json.loads((folder / "manifest.json").read_text())
    project = make_project(owner, name="Cutlery", project_type="detection")
    tags = {name: make_tag(project, name) for name in ("fork", "scissors")}
    items = [(rel, info) for rel, info in sorted(manifest["images"].items()) if rel.count("/") == 1]
    picked = [i for i in items if i[0].startswith("fork/")][:8] + [i for i in items if i[0].startswith("scissors/")][:8]
    images = {}
    for n, (rel, info) in enumerate(picked):
        regions = [{k: r[k] for k in ("left", "top", "width", "height")} | {"tag": tags[r["tag"]].id}
                   for r in info["regions"]]
        if n == 2:  # a fork tagged scissors
            regions[0]["tag"] = tags["scissors"].id
        if n == 4:
            regions.append({"tag": tags["fork"].id, "left": 0.0, "top": 0.0, "width": 1.0, "height": 1.0})
        if n == 5:
            regions.append({"tag": tags["fork"].id, "left": 0.5, "top": 0.5, "width": 0.01, "height": 0.02})
        if n == 10:
            regions.append({**regions[0], "left": regions[0]["left"] + 0.005})
        images[n] = add_image(project, regions=regions, data=(folder / rel).read_bytes())
    run = _check(project)
    kinds = {(f.kind, f.image_ids[0]) for f in run.findings.all()}
    assert ("box_whole_image", str(images[4].id)) in kinds
    assert ("box_tiny", str(images[5].id)) in kinds
    assert ("box_double", str(images[10].id)) in kinds
    disputed = sorted(run.findings.filter(kind="box_tag"), key=lambda f: -f.score)
    assert str(images[2].id) in [f.image_ids[0] for f in disputed[:2]]
    assert {r["tag"]: r["count"] for r in run.summary["balance"]} == {"fork": 9, "scissors": 10}
    page = owner_client.get(reverse("health:datahealth", args=[project.id])).content.decode()
    assert page.count('data-testid="box-issue"') >= 4 and "Open in labeler" in page


def test_an_empty_project_checks_clean(owner, owner_client) -> None:  # type: ignore[no-untyped-def]
    from tests.factories import make_project

    project = make_project(owner, name="Empty")
    run = _check(project)
    assert run.summary["images"] == 0 and run.summary["counts"] == {} and run.summary["balance"] == []
    assert b"No tags yet." in owner_client.get(reverse("health:datahealth", args=[project.id])).content


def test_a_check_gives_way_to_a_waiting_training_but_not_to_one_whose_worker_never_came(owner) -> None:  # type: ignore[no-untyped-def]
    """A check that finds a training queued and not started puts itself back in the queue (the training shares its
    worker); a training queued longer ago than the window does not hold it back. (The worker side: a real worker in
    test_datahealth_worker.py.)"""
    from datetime import timedelta

    from django.utils import timezone

    from health.datahealth import WAITING_STAGE, YIELD_WINDOW_SECONDS, datahealth_queue, datahealth_run
    from tests.training.builders import tagged_project
    from training.services import iteration_queue

    project = tagged_project(owner)
    run = datahealth_queue(project=project, requested_by=owner)
    waiting = iteration_queue(project=project, requested_by=owner)
    assert waiting.is_queued
    datahealth_run(run_id=run.id)
    run.refresh_from_db()
    assert (run.status, run.stage, run.started, run.progress) == ("Queued", WAITING_STAGE, None, 0.0)

    type(waiting).objects.filter(id=waiting.id).update(
        created=timezone.now() - timedelta(seconds=YIELD_WINDOW_SECONDS + 60))
    datahealth_run(run_id=run.id)
    run.refresh_from_db()
    assert run.status == "Completed", run.error
