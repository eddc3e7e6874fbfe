"""The Smart Labeler's portal page: Suggested tags for a classification project's untagged images.

One view renders the page or, for htmx, its ``#suggestions-body`` (polled while the background run works);
the run and the confirmations answer the same fragment.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.middleware import HtmxDetails

from health.suggestions import ORDERS, SuggestionError, suggestion_confirm, suggestion_groups, suggestion_run_start
from health.suggestions_models import SuggestionRun
from labeling.views import tag_choices
from projects.models import Project, Tag
from projects.selectors import project_get_for
from training.models import Iteration
from workspaces.access import Need, access


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def _trained(project: Project) -> list[Iteration]:
    return list(Iteration.objects.filter(project=project, status=Iteration.Status.COMPLETED)
                .exclude(artifact_path="").order_by("-number"))


def toolbar_link(request: HttpRequest, project: Project) -> str:
    """The Training Images toolbar's "Suggested tags" button, once a classifier is trained."""
    if project.is_detection or not Iteration.objects.filter(project=project,
                                                            status=Iteration.Status.COMPLETED).exists():
        return ""
    return render_to_string("health/_suggestions_link.html", {"project": project}, request=request)


def _float(value: Any, default: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return min(1.0, max(0.0, number)) if number == number else default


def _context(request: HttpRequest, project: Project, params: Any) -> dict[str, Any]:
    if project.is_detection:  # the labeler pre-draws proposed boxes instead
        return {"project": project, "detection": True}
    iterations = _trained(project)
    wanted = str(params.get("iteration") or "")
    iteration = next((i for i in iterations if str(i.id) == wanted), iterations[0] if iterations else None)
    threshold = _float(params.get("threshold"), 0.0)
    order = params.get("order") if params.get("order") in ORDERS else "uncertain"
    run = SuggestionRun.objects.filter(iteration=iteration).first() if iteration else None
    groups = suggestion_groups(iteration=iteration, threshold=threshold, order=order) if iteration else None
    query = urlencode({"iteration": iteration.id if iteration else "", "threshold": threshold, "order": order})
    choices = [c for c in tag_choices(project=project) if not c.is_negative]
    colors = {c.tag.id: c.color for c in choices}
    for group in groups.groups if groups else ():
        group.color = colors.get(group.tag.id, "#605e5c")
    return {"project": project, "iterations": iterations, "iteration": iteration, "run": run, "groups": groups,
            "threshold": threshold, "order": order, "orders": ORDERS, "query": query, "choices": choices,
            "url": reverse("health:suggestions", args=[project.id])}


def _body(request: HtmxHttpRequest, project: Project, params: Any, status: int = 200) -> HttpResponse:
    template = "health/suggestions.html"
    if request.htmx and not request.htmx.boosted:
        template += "#suggestions-body"
    return render(request, template, _context(request, project, params), status=status)


def _project(request: HttpRequest, project_id: uuid.UUID) -> Project:
    return project_get_for(user=request.user, project_id=project_id)


@require_GET
@access(Need.VIEW)
def suggestions(request: HtmxHttpRequest, project_id: uuid.UUID) -> HttpResponse:
    """Suggested tags: untagged images grouped by the model's most likely tag, to confirm or correct."""
    return _body(request, _project(request, project_id), request.GET)


def _back(request: HtmxHttpRequest, project: Project, error: str = "") -> HttpResponse:
    """htmx: the refreshed body (with the message); a plain post: back to the page, or the page and 400."""
    if error:
        messages.error(request, error)
    if request.htmx or error:
        return _body(request, project, request.POST, status=400 if error and not request.htmx else 200)
    query = urlencode({k: request.POST.get(k, "") for k in ("iteration", "threshold", "order")})
    return redirect(reverse("health:suggestions", args=[project.id]) + "?" + query)


@require_POST
@access(Need.LABEL)
def suggestions_run(request: HtmxHttpRequest, project_id: uuid.UUID) -> HttpResponse:
    """Start (or refresh) the background run over every untagged image for the chosen iteration."""
    project = _project(request, project_id)
    iteration = next((i for i in _trained(project) if str(i.id) == request.POST.get("iteration")), None)
    if project.is_detection:
        return _back(request, project, "Suggested tags are for classification projects.")
    if iteration is None:
        return _back(request, project, "Choose a trained iteration.")
    try:
        suggestion_run_start(iteration=iteration)
    except SuggestionError as exc:
        return _back(request, project, exc.message)
    return _back(request, project)


@require_POST
@access(Need.LABEL)
def suggestions_confirm(request: HtmxHttpRequest, project_id: uuid.UUID) -> HttpResponse:
    """Confirm suggestions (a group, or one image) or correct one: tag the posted images with the posted tag."""
    project = _project(request, project_id)
    chosen = request.POST.get("correct") or request.POST.get("tag")  # a correction, or the suggestion confirmed
    tag_id = _uuid(chosen)
    tag = Tag.objects.filter(project=project, id=tag_id).first() if tag_id else None
    ids = [i for i in (_uuid(v) for v in request.POST.getlist("image")) if i]
    if tag is None or not ids:
        return _back(request, project, "Choose a tag and at least one image.")
    try:
        count = suggestion_confirm(project=project, image_ids=ids, tag=tag)
    except SuggestionError as exc:
        return _back(request, project, exc.message)
    messages.success(request, f"Tagged {count} image{'s' if count != 1 else ''} “{tag.name}”.")
    return _back(request, project)


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None
