"""Read-side queries for projects, tags and images; every entry point is scoped to a user or a project."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any
from uuid import UUID

from django.db.models import Count, Exists, IntegerField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Coalesce, Lower
from django.db.models.lookups import Exact
from django.http import Http404

from projects.models import Image, Project, Tag
from workspaces.access import workspace_ids_of

ORDERS = {"newest": ("-created", "-id"), "oldest": ("created", "id")}


def _uuid_or_404(value: Any) -> UUID:
    try:
        return value if isinstance(value, UUID) else UUID(str(value))
    except (ValueError, TypeError, AttributeError) as exc:
        raise Http404("Not found.") from exc


def projects_visible_to(user: Any) -> QuerySet[Project]:
    """Every project in the principal's workspaces (a user's memberships, or a key's one workspace)."""
    return Project.objects.filter(workspace_id__in=workspace_ids_of(user))


def project_list_for(*, user: Any, workspace_id: Any = None) -> QuerySet[Project]:
    """The principal's projects (of one workspace, if given), newest change first, with ``image_count`` and
    ``cover_image_id`` (for tiles)."""
    images = Image.objects.filter(project=OuterRef("pk")).order_by()
    projects = projects_visible_to(user)
    if workspace_id is not None:
        projects = projects.filter(workspace_id=workspace_id)
    return projects.annotate(
        image_count=Coalesce(
            Subquery(images.values("project").annotate(n=Count("pk")).values("n")[:1]),
            Value(0),
            output_field=IntegerField(),
        ),
        cover_image_id=Subquery(images.order_by("-created", "-id").values("id")[:1]),
    )


def project_get_for(*, user: Any, project_id: Any) -> Project:
    """A project in one of the principal's workspaces; Http404 for an unknown id or anyone else's project (never
    403: ids don't leak). What the principal may do there is workspaces.access's decision."""
    pk = _uuid_or_404(project_id)
    project = projects_visible_to(user).filter(pk=pk).first()
    if project is None:
        raise Http404("No such project.")
    return project


def tag_list(*, project: Project) -> QuerySet[Tag]:
    """The project's tags by name (case-insensitive) with ``image_count``.

    A correlated COUNT per tag walks the (tag_id) index: ~10x faster on 20,000 images than
    Count("images"), whose LEFT JOIN + GROUP BY over every tag column sorts all the links.
    """
    links = Image.tags.through.objects.filter(tag_id=OuterRef("pk")).order_by().values("tag_id")
    count = Subquery(links.annotate(n=Count("*")).values("n")[:1])  # type: ignore[misc]  # django-stubs misses "n"
    return (
        Tag.objects.filter(project=project)
        .annotate(image_count=Coalesce(count, Value(0), output_field=IntegerField()))
        .order_by(Lower("name"), "id")
    )


def tag_get(*, project: Project, tag_id: Any) -> Tag:
    """A tag of this project; Http404 otherwise."""
    tag = Tag.objects.filter(project=project, pk=_uuid_or_404(tag_id)).first()
    if tag is None:
        raise Http404("No such tag.")
    return tag


def _has_tag(tag_ids: Sequence[UUID] | None = None) -> Exists:
    through = Image.tags.through.objects.filter(image_id=OuterRef("pk"))
    if tag_ids is not None:
        through = through.filter(tag_id__in=tag_ids)
    return Exists(through)


def metadata_q(expr: tuple[Any, ...]) -> Q:
    """A metadata filter as a query: ``("eq" | "ne", key, value)`` or ``("and" | "or", left, right)``
    (``portal.azure.odata`` parses Azure's $filter into it). ``ne`` includes images without the key."""
    op = expr[0]
    if op in ("and", "or"):
        left, right = metadata_q(expr[1]), metadata_q(expr[2])
        return left & right if op == "and" else left | right
    key, value = expr[1], expr[2]
    equal = Q(metadata__has_key=key) & Q(Exact(KeyTextTransform(key, "metadata"), value))
    return equal if op == "eq" else ~equal


def image_list(
    *,
    project: Project,
    tagged: bool | None = None,
    tag_ids: Iterable[Any] = (),
    order: str = "newest",
    metadata: tuple[Any, ...] | None = None,
) -> QuerySet[Image]:
    """The project's images, filtered Azure-style: ``tagged`` True/False/None (all); ``tag_ids`` = any of them;
    ``metadata`` a metadata filter (see :func:`metadata_q`).

    EXISTS subqueries instead of joins, so no DISTINCT and no duplicates; tags are prefetched (one
    query per page, whatever the page size).
    """
    images = Image.objects.filter(project=project)
    if metadata is not None:
        images = images.filter(metadata_q(metadata))
    ids = [_uuid_or_404(t) for t in tag_ids]
    if ids:
        images = images.filter(_has_tag(ids))
    elif tagged is True:
        images = images.filter(_has_tag())
    if tagged is False:
        images = images.filter(~_has_tag())
    return images.order_by(*ORDERS.get(order, ORDERS["newest"])).prefetch_related("tags")


def image_counts(*, project: Project) -> dict[str, int]:
    """All / tagged / untagged image counts of the project, in one query."""
    counts = Image.objects.filter(project=project).aggregate(
        all=Count("pk"), tagged=Count("pk", filter=Q(_has_tag()))
    )
    return {"all": counts["all"], "tagged": counts["tagged"], "untagged": counts["all"] - counts["tagged"]}


def image_get_for(*, user: Any, image_id: Any) -> Image:
    """An image of one of the principal's projects (with its project and tags); Http404 for anyone else."""
    image = (
        Image.objects.select_related("project")
        .prefetch_related("tags")
        .filter(pk=_uuid_or_404(image_id), project__workspace_id__in=workspace_ids_of(user))
        .first()
    )
    if image is None:
        raise Http404("No such image.")
    return image


def image_neighbors(*, image: Image) -> tuple[UUID | None, UUID | None]:
    """Ids of the newer and the older image next to this one in the project's newest-first order."""
    same = Image.objects.filter(project_id=image.project_id)
    newer = same.filter(Q(created__gt=image.created) | Q(created=image.created, id__gt=image.id))
    older = same.filter(Q(created__lt=image.created) | Q(created=image.created, id__lt=image.id))
    return (
        newer.order_by("created", "id").values_list("id", flat=True).first(),
        older.order_by("-created", "-id").values_list("id", flat=True).first(),
    )
