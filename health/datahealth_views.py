"""HTML views of Data Health: the page (polls while a check runs), Re-check, keep one of a cluster, fix a tag."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseStopPolling
from django_htmx.middleware import HtmxDetails

from health import datahealth, datahealth_selectors
from health.datahealth_models import DataHealthRun
from projects.errors import ProjectsError
from projects.models import Project
from projects.selectors import project_get_for
from training.models import Iteration
from workspaces.access import Need, access


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def _page_context(project: Project) -> dict[str, Any]:
    page = datahealth_selectors.datahealth_page(project=project)
    return {"project": project, "page": page, "kinds": datahealth_selectors.Kind}


@require_GET
@access(Need.VIEW)
def datahealth_page(request: HtmxHttpRequest, project_id: uuid.UUID) -> HttpResponse:
    """The findings of the latest check; while one runs, its status polls and the page reloads when it ends."""
    project = project_get_for(user=request.user, project_id=project_id)
    context = _page_context(project)
    if request.htmx and request.GET.get("part") == "status":
        response = render(request, "health/datahealth.html#run-status", context)
        latest = context["page"].latest
        if latest is None or not latest.is_active:
            stop = HttpResponseStopPolling(response.content)
            stop["HX-Refresh"] = "true"  # the check ended: show its findings
            return stop
        return response
    return render(request, "health/datahealth.html", context)


@require_POST
@access(Need.TRAIN)
def datahealth_check(request: HttpRequest, project_id: uuid.UUID) -> HttpResponse:
    """Re-check: queue a check now (a running one is kept)."""
    project = project_get_for(user=request.user, project_id=project_id)
    datahealth.datahealth_queue(project=project, requested_by=request.user)
    return redirect("health:datahealth", project_id=project.id)


@require_http_methods(["GET", "POST"])
@access(Need.TRAIN)
def datahealth_keep_one(request: HttpRequest, project_id: uuid.UUID) -> HttpResponse:
    """GET: confirm which images of a near-duplicate cluster will be deleted. POST: delete them."""
    project = project_get_for(user=request.user, project_id=project_id)
    data = request.POST if request.method == "POST" else request.GET
    finding = datahealth_selectors.datahealth_finding(project=project, finding_id=data.get("finding"))
    keep = data.get("keep", "")
    if finding is None or keep not in finding.image_ids:
        messages.error(request, "This cluster changed since the check: nothing was deleted.")
        return redirect("health:datahealth", project_id=project.id)
    if request.method == "GET":
        page = datahealth_selectors.datahealth_page(project=project)
        others = [page.images[i] for i in finding.image_ids if i != keep and i in page.images]
        if keep not in page.images or not others:
            messages.error(request, "This cluster changed since the check: nothing was deleted.")
            return redirect("health:datahealth", project_id=project.id)
        return render(request, "health/datahealth_keep_one.html",
                      {"project": project, "finding": finding, "keep": page.images.get(keep), "others": others})
    try:
        deleted = datahealth.duplicate_keep_one(project=project, finding_id=finding.id, keep=keep)
    except (datahealth.DataHealthError, ProjectsError) as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Kept one image; deleted {deleted} near-duplicate{'s' if deleted != 1 else ''}.")
    return redirect("health:datahealth", project_id=project.id)


@require_POST
@access(Need.LABEL)
def datahealth_fix_tag(request: HtmxHttpRequest, project_id: uuid.UUID) -> HttpResponse:
    """Give a likely mislabelled image (or box) the suggested tag; htmx swaps the row for a confirmation."""
    project = project_get_for(user=request.user, project_id=project_id)
    try:
        finding = datahealth.mislabel_fix(project=project, finding_id=request.POST.get("finding"))
    except (datahealth.DataHealthError, ProjectsError) as exc:
        if request.htmx:
            return render(request, "health/datahealth.html#fix-result", {"error": str(exc)}, status=409)
        messages.error(request, str(exc))
    else:
        if request.htmx:
            return render(request, "health/datahealth.html#fix-result", {"finding": finding})
        messages.success(request, f"Tagged {finding.data['suggested_name']}.")
    return redirect("health:datahealth", project_id=project.id)


def iteration_panel(request: HttpRequest, iteration: Iteration) -> str:
    """The iteration page's Data Health summary (training's hook): leakage warning, counts, link."""
    run = datahealth_selectors.datahealth_result(project=iteration.project)
    latest = datahealth_selectors.datahealth_latest(project=iteration.project)
    checking = latest is not None and latest.status in (DataHealthRun.Status.QUEUED, DataHealthRun.Status.RUNNING)
    if run is None and not checking:
        return ""
    summary = run.summary if run else {}
    same = summary.get("iteration_id") == str(iteration.id)
    return render_to_string("health/datahealth_iteration_panel.html", {
        "project": iteration.project, "iteration": iteration, "run": run, "summary": summary,
        "leakage": summary.get("leakage", 0) if same else 0, "same_iteration": same, "checking": checking,
    }, request=request)
