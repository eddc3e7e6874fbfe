"""Read-side queries for the labeling screens: an image's regions and its neighbours in the grid's filter order."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet

from labeling.errors import NotFoundTag
from labeling.models import Region
from projects.models import Image, Project, Tag
from projects.selectors import image_list

FILTERS = ("all", "tagged", "untagged")
ORDERS = ("newest", "oldest")


@dataclass(frozen=True)
class ImageFilter:
    """The image grid's filter, carried in the labeler's query string so ←/→ walk the same list."""

    status: str = "all"  # all | tagged | untagged
    tag_ids: tuple[uuid.UUID, ...] = field(default=())
    order: str = "newest"

    @classmethod
    def from_query(cls, query: Mapping[str, Any]) -> ImageFilter:
        """Lenient parse of the grid's ``?filter=untagged&tag=<id>&tag=<id>&order=oldest`` (``tags=a,b`` too)."""
        status = str(query.get("filter") or "all").lower()
        order = str(query.get("order") or "newest").lower()
        getlist = query.getlist if hasattr(query, "getlist") else (lambda k: [query.get(k) or ""])
        tag_ids: list[uuid.UUID] = []
        for chunk in [*getlist("tag"), *getlist("tags")]:
            for part in str(chunk).split(","):
                try:
                    tag_ids.append(uuid.UUID(part.strip()))
                except ValueError:
                    continue
        return cls(
            status=status if status in FILTERS else "all",
            tag_ids=tuple(dict.fromkeys(tag_ids)),
            order=order if order in ORDERS else "newest",
        )

    def query_string(self) -> str:
        """``?...`` in the grid's own format, for links (empty for the default filter)."""
        params: list[tuple[str, str]] = []
        if self.status != "all":
            params.append(("filter", self.status))
        params += [("tag", str(t)) for t in self.tag_ids]
        if self.order != "newest":
            params.append(("order", self.order))
        return f"?{urlencode(params)}" if params else ""


@dataclass(frozen=True)
class Neighbours:
    position: int  # 1-based place of the image in the filtered list (where it would be, if it left the filter)
    total: int
    included: bool  # False once the image no longer matches the filter (e.g. just tagged under "untagged")
    previous_id: uuid.UUID | None
    next_id: uuid.UUID | None


def regions_for(*, image: Image) -> QuerySet[Region]:
    """The image's regions, oldest first, with their tags."""
    return Region.objects.filter(image=image).select_related("tag").order_by("created", "id")


def tag_get_for_region(*, image: Image, tag_id: uuid.UUID | str | None) -> Tag:
    """The tag named by a posted id, which must belong to the image's project."""
    if tag_id is None:
        raise NotFoundTag("No tag given.")
    try:
        tag = Tag.objects.get(id=tag_id, project_id=image.project_id)
    except (Tag.DoesNotExist, ValueError, TypeError, ValidationError) as exc:  # a malformed UUID: ValidationError
        raise NotFoundTag(f"Tag {tag_id} not found in this project.") from exc
    return tag


def _filtered_images(*, project: Project, image_filter: ImageFilter) -> QuerySet[Image]:
    tagged = {"tagged": True, "untagged": False}.get(image_filter.status)
    return image_list(project=project, tagged=tagged, tag_ids=image_filter.tag_ids, order=image_filter.order)


def image_neighbours(*, image: Image, image_filter: ImageFilter) -> Neighbours:
    """Previous/next image and "23 of 120" in the filter's order (newest first unless ``order=oldest``).

    Positions are computed from the image's sort key, so an image that just left the filter
    (e.g. it was tagged while walking "untagged") still has a well-defined next and previous.
    """
    images = _filtered_images(project=image.project, image_filter=image_filter).order_by().prefetch_related(None)
    newer = Q(created__gt=image.created) | Q(created=image.created, id__gt=image.id)
    older = Q(created__lt=image.created) | Q(created=image.created, id__lt=image.id)
    ahead, behind = (newer, older) if image_filter.order == "newest" else (older, newer)
    asc, desc = ("created", "id"), ("-created", "-id")
    ahead_order, behind_order = (asc, desc) if image_filter.order == "newest" else (desc, asc)
    previous_id = images.filter(ahead).order_by(*ahead_order).values_list("id", flat=True).first()
    next_id = images.filter(behind).order_by(*behind_order).values_list("id", flat=True).first()
    return Neighbours(
        position=images.filter(ahead).count() + 1,
        total=images.count(),
        included=images.filter(id=image.id).exists(),
        previous_id=previous_id,
        next_id=next_id,
    )
