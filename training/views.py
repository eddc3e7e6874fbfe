"""HTML views of training: the Train button, the iteration list, and each iteration's Performance tab."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseStopPolling
from django_htmx.middleware import HtmxDetails

from projects.errors import ProjectsError
from projects.models import Project
from projects.selectors import image_get_for, project_get_for, tag_get, tag_list
from training import selectors, services
from training.models import Iteration
from workspaces.access import Need, access


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


# Sections that higher apps add to an iteration's page (in their AppConfig.ready): each renders its HTML for the
# request and the iteration (health: the Data Health summary and the leakage warning).
_iteration_panels: list[Callable[[HttpRequest, Iteration], str]] = []


def iteration_panel_add(panel: Callable[[HttpRequest, Iteration], str]) -> None:
    if panel not in _iteration_panels:
        _iteration_panels.append(panel)


def _float(value: Any, default: float) -> float:
    try:
        return min(1.0, max(0.0, float(value)))
    except (TypeError, ValueError):
        return default


def _thresholds(request: HttpRequest) -> tuple[float, float]:
    return _float(request.GET.get("threshold"), 0.5), _float(request.GET.get("iou"), 0.5)


def _iteration(request: HttpRequest, iteration_id: uuid.UUID) -> Iteration:
    return selectors.iteration_get_for(user=request.user, iteration_id=iteration_id)


# --------------------------------------------------------------------------------------------- train / list


@require_http_methods(["GET", "POST"])
@access(Need.TRAIN)
def train(request: HtmxHttpRequest, project_id: uuid.UUID) -> HttpResponse:
    """GET: the Train dialog (Quick / Advanced). POST: queue it; on a failed check, say why in the dialog."""
    project = project_get_for(user=request.user, project_id=project_id)
    if request.method == "GET":
        return _train_page(request, project)
    advanced = request.POST.get("training_type") == Iteration.TrainingType.ADVANCED
    try:
        budget = int(request.POST.get("budget_minutes") or 0)
    except ValueError:
        budget = 0
    try:
        iteration = services.iteration_queue(
            project=project,
            requested_by=request.user,
            training_type=Iteration.TrainingType.ADVANCED if advanced else Iteration.TrainingType.REGULAR,
            budget_minutes=budget,
            force=request.POST.get("force") == "on",
        )
    except ProjectsError as exc:
        return _train_page(request, project, train_error=exc, status=400)
    return redirect("training:iteration-detail", iteration_id=iteration.id)


def _train_page(
    request: HttpRequest, project: Project, *, train_error: ProjectsError | None = None, status: int = 200
) -> HttpResponse:
    context = {
        "project": project,
        "tags": tag_list(project=project),
        "in_progress": selectors.iteration_in_progress(project=project),
        "latest": selectors.iteration_list(project=project).first(),
        "train_error": train_error,
        "workers": selectors.worker_list_alive(),
        "min_images": settings.TAGSIGHT_MIN_IMAGES_PER_TAG,
        "min_boxes": settings.TAGSIGHT_MIN_BOXES_PER_TAG,
    }
    return render(request, "training/train.html", context, status=status)


@require_GET
@access(Need.VIEW)
def iteration_list(request: HtmxHttpRequest, project_id: uuid.UUID) -> HttpResponse:
    project = project_get_for(user=request.user, project_id=project_id)
    return _iteration_list(request, project)


def _iteration_list(request: HttpRequest, project: Project) -> HttpResponse:
    context = {
        "project": project,
        "iterations": selectors.iteration_list(project=project),
        "in_progress": selectors.iteration_in_progress(project=project),
        "workers": selectors.worker_list_alive(),
    }
    return render(request, "training/iteration_list.html", context)


# --------------------------------------------------------------------------------------------- detail / live


def _detail_context(request: HttpRequest, iteration: Iteration) -> dict[str, Any]:
    threshold, iou = _thresholds(request)
    project = iteration.project
    return {
        "project": project,
        "iteration": iteration,
        "iterations": selectors.iteration_list(project=project),
        "timing": selectors.iteration_timing(iteration=iteration),
        "diff": selectors.iteration_diff(iteration=iteration),
        "perf": selectors.iteration_performance(iteration=iteration, threshold=threshold, iou_threshold=iou),
        "method": selectors.iteration_method(iteration=iteration),
        "workers": selectors.worker_list_alive(),
        "panels": [html for panel in _iteration_panels if (html := panel(request, iteration))],
    }


@require_GET
@access(Need.VIEW)
def iteration_detail(request: HtmxHttpRequest, iteration_id: uuid.UUID) -> HttpResponse:
    iteration = _iteration(request, iteration_id)
    return render(request, "training/iteration_detail.html", _detail_context(request, iteration))


@require_GET
@access(Need.VIEW)
def iteration_status(request: HtmxHttpRequest, iteration_id: uuid.UUID) -> HttpResponse:
    """Polled every second while training: the live body; once done, the full results and HTTP 286 (stop)."""
    iteration = _iteration(request, iteration_id)
    context = {**_detail_context(request, iteration), "oob_nav": True}
    response = render(request, "training/iteration_detail.html#iteration-body", context)
    if iteration.is_done:
        stop = HttpResponseStopPolling(response.content)
        stop["Content-Type"] = response["Content-Type"]
        return stop
    return response


@require_GET
@access(Need.VIEW)
def iteration_performance(request: HtmxHttpRequest, iteration_id: uuid.UUID) -> HttpResponse:
    """The numbers at the slider's thresholds (htmx: just the results; otherwise the whole page)."""
    iteration = _iteration(request, iteration_id)
    template = "training/iteration_detail.html"
    if request.htmx:
        template += "#performance-results"
    return render(request, template, _detail_context(request, iteration))


@require_POST
@access(Need.TRAIN)
def iteration_cancel(request: HtmxHttpRequest, iteration_id: uuid.UUID) -> HttpResponse:
    iteration = services.iteration_cancel(iteration=_iteration(request, iteration_id))
    if request.htmx:
        return render(request, "training/iteration_detail.html#iteration-body", _detail_context(request, iteration))
    messages.info(request, f"{iteration.name}: {iteration.stage}.")
    return redirect("training:iteration-detail", iteration_id=iteration.id)


# --------------------------------------------------------------------------------------------- manage


def _back(request: HttpRequest, iteration: Iteration) -> HttpResponseRedirect:
    nxt = request.POST.get("next", "")
    if nxt == "list":
        return redirect("training:iteration-list", project_id=iteration.project_id)
    return redirect("training:iteration-detail", iteration_id=iteration.id)


@require_POST
@access(Need.TRAIN)
def iteration_rename(request: HttpRequest, iteration_id: uuid.UUID) -> HttpResponse:
    iteration = _iteration(request, iteration_id)
    try:
        services.iteration_rename(iteration=iteration, name=request.POST.get("name", ""))
    except ProjectsError as exc:
        messages.error(request, exc.message)
    return _back(request, iteration)


@require_POST
@access(Need.TRAIN)
def iteration_publish(request: HttpRequest, iteration_id: uuid.UUID) -> HttpResponse:
    iteration = _iteration(request, iteration_id)
    try:
        services.iteration_publish(iteration=iteration, publish_name=request.POST.get("publish_name", ""))
        messages.success(request, f"{iteration.name} is published as {iteration.publish_name!r}.")
    except ProjectsError as exc:
        messages.error(request, exc.message)
    return _back(request, iteration)


@require_POST
@access(Need.TRAIN)
def iteration_unpublish(request: HttpRequest, iteration_id: uuid.UUID) -> HttpResponse:
    iteration = _iteration(request, iteration_id)
    try:
        services.iteration_unpublish(iteration=iteration)
        messages.success(request, f"{iteration.name} is no longer published.")
    except ProjectsError as exc:
        messages.error(request, exc.message)
    return _back(request, iteration)


@require_http_methods(["GET", "POST"])
@access(Need.TRAIN)
def iteration_delete(request: HttpRequest, iteration_id: uuid.UUID) -> HttpResponse:
    """GET: the confirmation page; POST: delete and go back to the list."""
    iteration = _iteration(request, iteration_id)
    if request.method == "POST":
        try:
            services.iteration_delete(iteration=iteration)
        except ProjectsError as exc:
            messages.error(request, exc.message)
            return redirect("training:iteration-detail", iteration_id=iteration.id)
        messages.success(request, f"{iteration.name} was deleted.")
        return redirect("training:iteration-list", project_id=iteration.project_id)
    return render(request, "training/iteration_delete.html",
                  {"iteration": iteration, "project": iteration.project})


# --------------------------------------------------------------------------------------------- images behind numbers


def _gallery_context(
    request: HttpRequest, iteration: Iteration, items: list[dict[str, Any]], **extra: Any
) -> dict[str, Any]:
    threshold, iou = _thresholds(request)
    return {
        "project": iteration.project,
        "iteration": iteration,
        "items": items,
        "tags": list(tag_list(project=iteration.project)),
        "threshold": threshold,
        "iou_threshold": iou,
        "multilabel": iteration.classification_type == "Multilabel",
        **extra,
    }


@require_GET
@access(Need.VIEW)
def iteration_images(request: HttpRequest, iteration_id: uuid.UUID) -> HttpResponse:
    """The validation images behind one confusion-matrix cell (``?cell=<true>|<predicted>``)."""
    iteration = _iteration(request, iteration_id)
    cell = request.GET.get("cell", "")
    threshold, iou = _thresholds(request)
    items = selectors.iteration_cell_images(iteration=iteration, cell=cell, threshold=threshold, iou_threshold=iou)
    true_tag, _, predicted = cell.partition("|")
    return render(request, "training/iteration_gallery.html",
                  _gallery_context(request, iteration, items, cell=cell, true_tag=true_tag, predicted=predicted,
                                   mode="cell"))


@require_GET
@access(Need.VIEW)
def iteration_errors(request: HttpRequest, iteration_id: uuid.UUID) -> HttpResponse:
    """The error gallery: false positives and false negatives at the thresholds, each fixable in one click."""
    iteration = _iteration(request, iteration_id)
    threshold, iou = _thresholds(request)
    items = selectors.iteration_errors(iteration=iteration, threshold=threshold, iou_threshold=iou)
    context = _gallery_context(request, iteration, items, mode="errors")
    return render(request, "training/iteration_gallery.html", context)


@require_POST
@access(Need.LABEL)
def iteration_retag(request: HtmxHttpRequest, iteration_id: uuid.UUID) -> HttpResponse:
    """One-click retag from a gallery card: POST image, tag, mode (set | add | remove)."""
    iteration = _iteration(request, iteration_id)
    project = iteration.project
    image_id, tag_id = request.POST.get("image", ""), request.POST.get("tag", "")
    image = image_get_for(user=request.user, image_id=image_id)
    tag = tag_get(project=project, tag_id=tag_id)
    if image.project_id != project.id:
        raise Http404("No such image.")
    error = ""
    try:
        services.image_retag(project=project, image_id=image.id, tag_id=tag.id, mode=request.POST.get("mode", "set"))
    except ProjectsError as exc:  # every domain error (training's, projects' e.g. Negative + regular tag)
        error = exc.message
    back = request.POST.get("back", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = reverse("training:iteration-errors", args=[iteration.id])
    if request.htmx or error:
        # A refused retag is a 400 that says why (the gallery swaps it in; without htmx it links back).
        current = sorted(image.tags.values_list("name", flat=True))
        return render(request, "training/iteration_gallery.html#retag-result",
                      {"image": image, "current_tags": current, "error": error,
                       "back": "" if request.htmx else back},
                      status=400 if error else 200)
    messages.success(request, f"Retagged {image}.")
    return redirect(back)
