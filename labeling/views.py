"""HTML views of the labeling screens: the detection labeler, the classification fast tagger and their endpoints.

Region endpoints answer the ``#region-list`` partial on success and ``{"code", "message"}`` with a
4xx on bad input (nothing written), so boxes.js can show the message and resynchronise.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import trigger_client_event
from django_htmx.middleware import HtmxDetails

from labeling import geometry, services
from labeling.forms import RegionForm, TagCreateForm, TagSetForm
from labeling.models import Region
from labeling.selectors import ImageFilter, image_neighbours, regions_for, tag_get_for_region
from portal.azure.errors import translate_errors
from projects.models import Image, Project, Tag
from projects.selectors import image_get_for
from projects.services import tag_create as tag_create_service
from workspaces.access import Need, access, workspace_ids_of

logger = logging.getLogger(__name__)

# Ten distinguishable colours (Tableau 10), given to tags in creation order.
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f")


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


@dataclass(frozen=True)
class TagChoice:
    """A tag as the labeler shows it: its colour and its 1–9 hotkey (None past the ninth)."""

    tag: Tag
    color: str
    hotkey: int | None

    @property
    def is_negative(self) -> bool:
        return self.tag.type == Tag.TagType.NEGATIVE


def _image_for(request: HttpRequest, image_id: uuid.UUID) -> Image:
    """The user's image or 404 (a stranger can't tell someone else's image from a missing one)."""
    return image_get_for(user=request.user, image_id=image_id)


def _region_for(request: HttpRequest, region_id: uuid.UUID) -> Region:
    return get_object_or_404(
        Region.objects.select_related("image__project", "tag"),
        id=region_id,
        image__project__workspace_id__in=workspace_ids_of(request.user),
    )


def tag_choices(*, project: Project) -> list[TagChoice]:
    """Regular tags in creation order (stable hotkeys: a new tag never shifts the others), Negative last."""
    tags = sorted(Tag.objects.filter(project=project), key=lambda t: (t.type == Tag.TagType.NEGATIVE, t.created, t.id))
    choices, regular = [], 0
    for tag in tags:
        if tag.type == Tag.TagType.NEGATIVE:
            choices.append(TagChoice(tag, "#605e5c", None))
            continue
        choices.append(TagChoice(tag, PALETTE[regular % len(PALETTE)], regular + 1 if regular < 9 else None))
        regular += 1
    return choices


def _grid_url(project: Project, image_filter: ImageFilter) -> str:
    return reverse("projects:project-detail", args=[project.id]) + image_filter.query_string()


@dataclass(frozen=True)
class RegionRow:
    """A region as the side panel lists it: its tag colour and its box in the original's pixels."""

    region: Region
    color: str
    pixels: str


def _region_list_context(image: Image) -> dict[str, Any]:
    choices = {c.tag.id: c for c in tag_choices(project=image.project)}
    rows = []
    for r in regions_for(image=image):
        x, y, w, h = (round(v) for v in geometry.to_pixels(
            geometry.Box(r.left, r.top, r.width, r.height), image.width, image.height))
        rows.append(RegionRow(r, choices[r.tag_id].color, f"{w}×{h} px at {x}, {y}"))
    return {"image": image, "regions": rows}


@require_GET
@access(Need.VIEW)
def labeler(request: HtmxHttpRequest, image_id: uuid.UUID) -> HttpResponse:
    """One image to label: boxes for detection projects, tag buttons for classification ones."""
    image = _image_for(request, image_id)
    project = image.project
    image_filter = ImageFilter.from_query(request.GET)
    neighbours = image_neighbours(image=image, image_filter=image_filter)
    qs = image_filter.query_string()
    context = {
        "project": project,
        "image": image,
        "tags": tag_choices(project=project),
        "nav": neighbours,
        "position": min(neighbours.position, max(neighbours.total, 1)),
        "filter": image_filter,
        "filter_qs": qs,
        "grid_url": _grid_url(project, image_filter),
        "previous_url": _labeler_url(neighbours.previous_id, qs),
        "next_url": _labeler_url(neighbours.next_id, qs),
        **_display(image),
    }
    if project.is_detection:
        context.update(_region_list_context(image))
        return render(request, "labeling/labeler.html", context)
    context.update(_tag_buttons_context(image, context["tags"]))
    return render(request, "labeling/classifier.html", context)


def _tag_buttons_context(image: Image, tags: list[TagChoice]) -> dict[str, Any]:
    on = set(image.tags.values_list("id", flat=True))
    return {"buttons": [(choice, choice.tag.id in on) for choice in tags], "image_tag_ids": on}


def _display(image: Image) -> dict[str, Any]:
    """The display rendition's URL and its layout size (the original's aspect, at most TAGSIGHT_DISPLAY_SIZE)."""
    scale = min(1.0, settings.TAGSIGHT_DISPLAY_SIZE / max(image.width, image.height, 1))
    return {
        "display_url": reverse("projects:image-file", args=[image.id, "display"]),
        "display_width": max(1, round(image.width * scale)),
        "display_height": max(1, round(image.height * scale)),
    }


def _labeler_url(image_id: uuid.UUID | None, qs: str) -> str | None:
    return reverse("labeling:labeler", args=[image_id]) + qs if image_id else None


def _region_list(request: HttpRequest, image: Image, status: int = 200) -> HttpResponse:
    return render(request, "labeling/labeler.html#region-list", _region_list_context(image), status=status)


@require_GET
@access(Need.VIEW)
def region_list(request: HtmxHttpRequest, image_id: uuid.UUID) -> HttpResponse:
    """The ``#region-list`` partial (boxes.js reloads it to resynchronise after a rejected save)."""
    return _region_list(request, _image_for(request, image_id))


@require_GET
@access(Need.LABEL)
def region_proposals(request: HtmxHttpRequest, image_id: uuid.UUID) -> HttpResponse:
    """Boxes the labeler pre-draws (dashed) for a person to accept or reject: ``{"proposals": [...]}``."""
    from labeling.proposals import proposals_for

    image = _image_for(request, image_id)
    return JsonResponse({"proposals": [p.to_json() for p in proposals_for(image=image)]})


@require_POST
@access(Need.LABEL)
@translate_errors
def region_create(request: HtmxHttpRequest, image_id: uuid.UUID) -> HttpResponse:
    image = _image_for(request, image_id)
    form = RegionForm(request.POST, creating=True)
    if not form.is_valid():
        return _bad_form(form)
    data = form.cleaned_data
    tag = tag_get_for_region(image=image, tag_id=data["tag"])
    services.region_create(
        image=image,
        tag=tag,
        left=data["left"],
        top=data["top"],
        width=data["width"],
        height=data["height"],
        region_id=data["id"],
    )
    return _region_list(request, image, status=201)


@require_POST
@access(Need.LABEL)
@translate_errors
def region_update(request: HtmxHttpRequest, region_id: uuid.UUID) -> HttpResponse:
    region = _region_for(request, region_id)
    form = RegionForm(request.POST)
    if not form.is_valid():
        return _bad_form(form)
    data = form.cleaned_data
    tag = tag_get_for_region(image=region.image, tag_id=data["tag"]) if data["tag"] else None
    services.region_update(
        region=region, tag=tag, left=data["left"], top=data["top"], width=data["width"], height=data["height"]
    )
    return _region_list(request, region.image)


@require_POST
@access(Need.LABEL)
@translate_errors
def region_delete(request: HtmxHttpRequest, region_id: uuid.UUID) -> HttpResponse:
    region = _region_for(request, region_id)
    image = region.image
    services.region_delete(region=region)
    return _region_list(request, image)


def _bad_form(form: RegionForm) -> JsonResponse:
    return JsonResponse({"code": "BadRequestImageRegions", "message": form.error_text()}, status=400)


@require_POST
@access(Need.LABEL)
@translate_errors
def tag_create(request: HtmxHttpRequest, image_id: uuid.UUID) -> HttpResponse:
    """Create a tag from the labeler's picker; answers the ``#tag-list`` partial and a ``tagCreated`` event."""
    image = _image_for(request, image_id)
    form = TagCreateForm(request.POST)
    if not form.is_valid():
        message = " ".join(str(e) for e in form.errors["name"])
        return JsonResponse({"code": "BadRequestTagName", "message": message}, status=400)
    tag = tag_create_service(project=image.project, name=form.cleaned_data["name"])
    response = render(
        request, "labeling/labeler.html#tag-list", {"image": image, "tags": tag_choices(project=image.project)}
    )
    return trigger_client_event(response, "tagCreated", {"id": str(tag.id), "name": tag.name}, after="receive")


@require_POST
@access(Need.LABEL)
@translate_errors
def tag_set(request: HtmxHttpRequest, image_id: uuid.UUID) -> HttpResponse:
    """Fast tagger: set one tag on or off the image (multiclass: replaces the others); answers ``#tag-buttons``."""
    image = _image_for(request, image_id)
    form = TagSetForm(request.POST)
    if not form.is_valid():
        return JsonResponse({"code": "NotFoundTag", "message": "Pick a tag."}, status=400)
    tag = tag_get_for_region(image=image, tag_id=form.cleaned_data["tag"])
    services.image_tag_set(image=image, tag=tag, on=form.cleaned_data["on"])
    qs = ImageFilter.from_query(request.GET).query_string()
    if not request.htmx:  # a plain form post (no JS): back to the same page
        return redirect(reverse("labeling:labeler", args=[image.id]) + qs)
    context = {
        "image": image,
        "project": image.project,
        "filter_qs": qs,
        **_tag_buttons_context(image, tag_choices(project=image.project)),
    }
    return render(request, "labeling/classifier.html#tag-buttons", context)
