"""`manage.py import_customvision` against a second Tagsight server holding SDK-built projects."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from tests.datasets.customvision.checks import assert_imported
from tests.datasets.customvision.conftest import Proxy, free_port

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(owner):  # type: ignore[no-untyped-def]
    from workspaces.services import workspace_create

    return workspace_create(name="Migration team", owner=owner)


def _import(source, *extra: str, endpoint: str | None = None, key: str | None = None) -> str:  # type: ignore[no-untyped-def]
    out = io.StringIO()
    call_command("import_customvision", "--endpoint", endpoint or source.endpoint, "--training-key",
                 key or source.training_key, "--workspace", "Migration team", *extra, stdout=out)
    return out.getvalue()


def test_cli_moves_both_projects_and_a_second_run_imports_nothing_new(source, team):  # type: ignore[no-untyped-def]
    from datasets.customvision.models import ImportJob
    from projects.models import Image
    from workspaces.models import AuditEntry

    out = _import(source)
    total = sum(len(p.images) for p in source.projects)
    assert f"{total} imported, 0 already there, 0 failed" in out
    assert "Iterations are not carried" in out
    for project in source.projects:
        assert_imported(team, project)
    job = ImportJob.objects.get()
    assert job.status == "completed" and job.training_key == ""  # the key is not kept past the job
    assert AuditEntry.objects.filter(workspace=team, action="import.customvision", count=total).exists()

    again = _import(source, "--project", source.detection.id)
    assert f"0 imported, {len(source.detection.images)} already there, 0 failed" in again
    assert Image.objects.filter(project__workspace=team).count() == total
    assert_imported(team, source.detection)

    # An imported project deleted here since is imported afresh (its old map is forgotten).
    from projects.services import project_delete

    project_delete(project=assert_imported(team, source.detection))
    again = _import(source, "--project", source.detection.id)
    assert f"{len(source.detection.images)} imported, 0 already there" in again
    assert_imported(team, source.detection)


def test_cli_waits_out_throttling(source, team):  # type: ignore[no-untyped-def]
    """Every third request is answered 429 with Retry-After: 1; each is retried, no sooner than asked."""
    with Proxy(source.endpoint, throttle_every=3, retry_after=1) as proxy:
        out = _import(source, "--project", source.classification.id, endpoint=proxy.endpoint)
    assert f"{len(source.classification.images)} imported" in out
    assert_imported(team, source.classification)
    throttled = [(t, path) for t, path, status in proxy.log if status == 429]
    assert len(throttled) >= 3
    for when, path in throttled:
        retry = next(t for t, p, status in proxy.log if p == path and t > when)
        assert retry - when >= 0.9, f"{path} retried {retry - when:.2f} s after a 429 asking for 1 s"


@pytest.mark.parametrize("case", ["key", "endpoint", "unreachable", "project", "workspace"])
def test_cli_bad_input_is_a_clear_error_and_writes_nothing(source, team, case):  # type: ignore[no-untyped-def]
    from datasets.customvision.models import ImportedItem, ImportJob
    from projects.models import Project

    args: dict[str, str] = {}
    extra: tuple[str, ...] = ()
    expected = {"key": "training key was refused", "endpoint": "has no Custom Vision Training API",
                "unreachable": "Cannot reach", "project": "No project 123", "workspace": "No workspace"}[case]
    if case == "key":
        args["key"] = "wrong-key"
    elif case == "endpoint":
        args["endpoint"] = source.endpoint + "/not-here"
    elif case == "unreachable":
        args["endpoint"] = f"http://127.0.0.1:{free_port()}"
    elif case == "project":
        extra = ("--project", "123")
    if case == "workspace":
        with pytest.raises(CommandError, match=expected):
            call_command("import_customvision", "--endpoint", source.endpoint, "--training-key", "k",
                         "--workspace", "Nobody's")
    else:
        with pytest.raises(CommandError, match=expected):
            _import(source, *extra, **args)
    assert not ImportJob.objects.exists() and not ImportedItem.objects.exists() and not Project.objects.exists()


def test_an_import_whose_command_was_killed_fails_with_how_to_resume(team, owner):  # type: ignore[no-untyped-def]
    """`manage.py import_customvision` killed (SIGKILL: no chance to say so itself) leaves its job Importing; this
    machine sees its process is gone and fails it, saying how to resume. A running command is left alone."""
    import os
    import socket
    import subprocess

    from django.utils import timezone

    from datasets.customvision.models import ImportJob
    from datasets.customvision.services import CLI_HOST, import_get, imports_reap_lost

    gone = subprocess.Popen(["true"])
    gone.wait()  # a pid that no longer exists

    def claimed(pid: int, host: str = socket.gethostname()) -> ImportJob:
        return ImportJob.objects.create(workspace=team, endpoint="https://example.invalid/", training_key="k",
                                        status="running", started=timezone.now(), worker_hostname=CLI_HOST + host,
                                        worker_pid=pid, stage="Importing Trees")

    killed, running, elsewhere = claimed(gone.pid), claimed(os.getpid()), claimed(gone.pid, "another-machine")
    assert import_get(job_id=killed.pk).status == "failed"  # the import's page notices it
    killed.refresh_from_db()
    assert killed.training_key == "" and killed.finished is not None
    assert f"process {gone.pid}" in killed.error and "Run the same command again to resume" in killed.error
    assert imports_reap_lost() == 0
    assert ImportJob.objects.get(pk=running.pk).status == "running"
    assert ImportJob.objects.get(pk=elsewhere.pk).status == "running"  # only its own machine can tell
