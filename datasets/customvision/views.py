"""Portal pages of the Custom Vision import: connect (endpoint + key), pick projects, follow the progress and read
the report. The progress page polls itself with htmx (its #import-body fragment) until the job ends."""

from __future__ import annotations

from uuid import UUID

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_http_methods
from django_htmx.http import HttpResponseStopPolling

from datasets.customvision import services
from datasets.customvision.forms import ConnectForm, PickForm
from datasets.customvision.models import ImportJob
from workspaces.access import Need, access, can
from workspaces.models import Workspace


def list_action(request: HttpRequest) -> str:
    """The projects list's "Import from Custom Vision" button (projects.views.project_list_action_add)."""
    workspace_id = request.access.workspace_id  # type: ignore[attr-defined]
    if not can(request.user, workspace_id, Need.TRAIN):
        return ""
    return render_to_string("datasets/customvision/_list_action.html", request=request)


@require_http_methods(["GET", "POST"])
@access(Need.TRAIN)
def import_connect(request: HttpRequest) -> HttpResponse:
    """Endpoint and training key -> the projects found there (a job waiting for the pick)."""
    workspace = Workspace.objects.get(pk=request.access.workspace_id)  # type: ignore[attr-defined]
    form = ConnectForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            job = services.import_discover(workspace=workspace, by=request.user, **form.cleaned_data)
        except services.ImportError_ as exc:
            form.add_error(None, exc.message)
        else:
            return redirect("datasets:customvision-import", import_id=job.pk)
    jobs = ImportJob.objects.filter(workspace=workspace).exclude(status=ImportJob.Status.FOUND)[:10]
    return render(request, "datasets/customvision/connect.html", {"form": form, "workspace": workspace, "jobs": jobs})


@require_http_methods(["GET", "POST"])
@access(Need.TRAIN)
def import_detail(request: HttpRequest, import_id: UUID) -> HttpResponse:
    """Before the start: the projects found, to pick. After: progress (polled), then the report."""
    try:
        job = services.import_get(job_id=import_id)
    except ImportJob.DoesNotExist as exc:
        raise Http404 from exc
    form = None
    if job.status == ImportJob.Status.FOUND and job.created_by_id == request.user.pk:  # the key is theirs
        form = PickForm(request.POST if request.method == "POST" else None, found=job.found)
    if request.method == "POST" and form is not None and form.is_valid():
        try:
            services.import_start(job=job, project_ids=form.cleaned_data["projects"])
        except services.ImportError_ as exc:
            form.add_error(None, exc.message)
        else:
            return redirect("datasets:customvision-import", import_id=job.pk)
    context = {"job": job, "form": form}
    if getattr(request, "htmx", False) and form is None:
        html = render(request, "datasets/customvision/import.html#import-body", context)
        return html if job.is_active else HttpResponseStopPolling(html.content)
    return render(request, "datasets/customvision/import.html", context)
