"""HTML views for projects, tags and images: full pages, or htmx fragments of the same templates."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from django.conf import settings
from django.contrib import messages
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect
from django_htmx.middleware import HtmxDetails

from projects import errors, selectors, services
from projects.forms import GridFilterForm, ImageActionForm, ProjectForm, TagForm, UploadTagsForm
from projects.models import Project, Tag
from projects.storage import stored_file_response
from workspaces.access import SESSION_KEY, Need, access
from workspaces.models import Role
from workspaces.services import workspaces_of

logger = logging.getLogger(__name__)


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


# ---------------------------------------------------------------------------------------------- projects

# Buttons that higher apps put beside "+ New project" (in their AppConfig.ready; datasets: "Import from Custom
# Vision"): each renders its HTML for the request, empty when the role does not allow it.
_list_actions: list[Callable[[HttpRequest], str]] = []


def project_list_action_add(action: Callable[[HttpRequest], str]) -> None:
    if action not in _list_actions:
        _list_actions.append(action)


@require_GET
@access(Need.VIEW)
def project_list(request: HtmxHttpRequest) -> HttpResponse:
    workspace_id = request.access.workspace_id  # type: ignore[attr-defined]  # the switcher's current workspace
    projects = selectors.project_list_for(user=request.user, workspace_id=workspace_id)
    actions = [html for html in (action(request) for action in _list_actions) if html]
    return render(request, "projects/project_list.html", {"projects": projects, "actions": actions})


@require_http_methods(["GET", "POST"])
@access(Need.TRAIN)
def project_create(request: HtmxHttpRequest) -> HttpResponse:
    form = ProjectForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            project = services.project_create(
                created_by=request.user,
                workspace=request.access.workspace_id,  # type: ignore[attr-defined]
                **form.cleaned_data,
            )
        except errors.ProjectsError as exc:
            form.add_error(None, exc.message)
        else:
            return redirect("projects:project-detail", project_id=project.id)
    return render(request, "projects/project_form.html", {"form": form})


@require_http_methods(["GET", "POST"])
@access(Need.TRAIN)
def project_edit(request: HtmxHttpRequest, project_id: UUID) -> HttpResponse:
    project = selectors.project_get_for(user=request.user, project_id=project_id)
    form = ProjectForm(request.POST or None, initial=ProjectForm.initial_for(project))
    if request.method == "POST" and form.is_valid():
        try:
            services.project_update(project=project, **form.cleaned_data)
        except errors.ProjectsError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, "Project settings saved.")
            return redirect("projects:project-detail", project_id=project.id)
    return render(request, "projects/project_form.html", {"form": form, "project": project})


@require_http_methods(["GET", "POST"])
@access(Need.OWN)
def project_delete(request: HtmxHttpRequest, project_id: UUID) -> HttpResponse:
    project = selectors.project_get_for(user=request.user, project_id=project_id)
    if request.method == "POST":
        name = project.name
        try:
            services.project_delete(project=project)
        except errors.ProjectsError as exc:  # e.g. an iteration is still published
            messages.error(request, exc.message)
            return redirect("projects:project-delete", project_id=project.id)
        messages.success(request, f"Project “{name}” and its images were deleted.")
        if request.htmx:
            return HttpResponseClientRedirect(reverse("projects:project-list"))
        return redirect("projects:project-list")
    try:
        services.project_delete_check(project=project)
        blocked = ""
    except errors.ProjectsError as exc:
        blocked = exc.message
    counts = selectors.image_counts(project=project)
    return render(request, "projects/project_confirm_delete.html",
                  {"project": project, "counts": counts, "blocked": blocked})


@require_http_methods(["GET", "POST"])
@access(Need.OWN)
def project_move(request: HtmxHttpRequest, project_id: UUID) -> HttpResponse:
    """Move the project to another workspace the user owns (a confirmation page says what changes)."""
    project = selectors.project_get_for(user=request.user, project_id=project_id)
    targets = [w for w in workspaces_of(user=request.user) if w.role == Role.OWNER and w.id != project.workspace_id]  # type: ignore[attr-defined]
    error = ""
    if request.method == "POST":
        target = next((w for w in targets if str(w.id) == request.POST.get("workspace")), None)
        if target is None:
            error = "Choose one of the workspaces you own."
        else:
            try:
                services.project_move(project=project, workspace=target, by=request.user)
            except errors.ProjectsError as exc:
                error = exc.message
            else:
                request.session[SESSION_KEY] = str(target.id)  # follow the project into its new workspace
                messages.success(request, f"Project “{project.name}” moved to {target.name}.")
                return redirect("projects:project-detail", project_id=project.id)
    context = {"project": project, "targets": targets, "error": error, "source": project.workspace}
    return render(request, "projects/project_move.html", context, status=400 if error else 200)


# ---------------------------------------------------------------------------------------------- training images


# Buttons other apps put in the Training Images toolbar (registered in their AppConfig.ready): each is called with
# the request and the project and returns HTML ("" for none), e.g. health's "Suggested tags".
_toolbar_links: list[Callable[[HttpRequest, Project], str]] = []


def images_toolbar_add(link: Callable[[HttpRequest, Project], str]) -> None:
    if link not in _toolbar_links:
        _toolbar_links.append(link)


def _workspace(request: HttpRequest, project: Project) -> dict[str, Any]:
    """Context of the Training images workspace: tag panel with counts, filters, one page of the grid.

    A constant number of queries whatever the project size: tags with counts, the three counts,
    one page of images (+1 to know whether there is more) and their prefetched tags.
    """
    tags = list(selectors.tag_list(project=project))
    form = GridFilterForm(request.GET, tags=tags)
    filter_, tag_ids, page = form.values()
    page_size = settings.TAGSIGHT_PAGE_SIZE
    images_qs = selectors.image_list(
        project=project, tagged={"tagged": True, "untagged": False}.get(filter_), tag_ids=tag_ids
    )
    offset = (page - 1) * page_size
    images = list(images_qs[offset : offset + page_size + 1])
    has_more = len(images) > page_size
    images = images[:page_size]
    _annotate_tiles(images)
    query = [("filter", filter_)] + [("tag", str(t)) for t in tag_ids]
    return {
        "project": project,
        "tags": tags,
        "counts": selectors.image_counts(project=project),
        "toolbar_links": [html for html in (link(request, project) for link in _toolbar_links) if html],
        "filter": filter_,
        "selected_tag_ids": {str(t) for t in tag_ids},
        "selected_tags": [t for t in tags if t.id in tag_ids],  # in the panel's order, for the title
        "images": images,
        "page": page,
        "has_more": has_more,
        "offset": offset,
        "first": offset + 1,
        "last": offset + min(len(images), page_size),
        "query": urlencode(query),
        "next_query": urlencode([*query, ("page", page + 1)]),
        "prev_query": urlencode([*query, ("page", page - 1)]) if page > 1 else "",
    }


_PLACEHOLDER = UUID(int=0)


def _annotate_tiles(images: list[Any]) -> None:
    """URLs and tag names for each tile, reversed once per page rather than three times per image."""
    detail = reverse("projects:image-detail", args=[_PLACEHOLDER])
    thumbnail = reverse("projects:image-file", args=[_PLACEHOLDER, "thumbnail"])
    placeholder = str(_PLACEHOLDER)
    for image in images:
        image_id = str(image.id)
        image.detail_url = detail.replace(placeholder, image_id)
        image.thumbnail_url = thumbnail.replace(placeholder, image_id)
        image.tag_names = [t.name for t in image.tags.all()]


@require_GET
@access(Need.VIEW)
def project_detail(request: HtmxHttpRequest, project_id: UUID) -> HttpResponse:
    """The Training images page. htmx: ``#grid-page`` for the next page (infinite scroll), else ``#workspace``."""
    project = selectors.project_get_for(user=request.user, project_id=project_id)
    context = _workspace(request, project)
    if request.htmx and not request.htmx.boosted:
        fragment = "grid-page" if request.GET.get("page") and context["page"] > 1 else "workspace"
        return render(request, f"projects/project_detail.html#{fragment}", context)
    return render(request, "projects/project_detail.html", context)


def _after_change(request: HtmxHttpRequest, project: Project) -> HttpResponse:
    """htmx: the refreshed workspace (filters kept from the query string); no JS: back to the page."""
    if request.htmx:
        return render(request, "projects/project_detail.html#workspace", _workspace(request, project))
    url = reverse("projects:project-detail", kwargs={"project_id": project.id})
    return redirect(f"{url}?{request.GET.urlencode()}" if request.GET else url)


@require_POST
@access(Need.LABEL)
def images_action(request: HtmxHttpRequest, project_id: UUID) -> HttpResponse:
    """Add a tag to, remove a tag from, or delete the selected images."""
    project = selectors.project_get_for(user=request.user, project_id=project_id)
    form = ImageActionForm(request.POST, tags=list(project.tags.all()))
    if not form.is_valid():
        messages.error(request, " ".join(str(e) for errs in form.errors.values() for e in errs))
        return _after_change(request, project)
    data = form.cleaned_data
    try:
        if data["action"] == "tag":
            if len(data["tag_ids"]) > 1 and not project.is_multilabel and not project.is_detection:
                raise errors.ProjectsError("An image of a multiclass project carries one tag: pick one.")
            for tag_id in data["tag_ids"]:
                services.images_tag_set(project=project, image_ids=data["image_ids"], tag_id=tag_id)
        elif data["action"] == "untag":
            services.images_untag(project=project, image_ids=data["image_ids"], tag_ids=data["tag_ids"])
        else:
            request.access.require(Need.TRAIN)  # type: ignore[attr-defined]  # labelers tag, trainers delete
            n = services.images_delete(project=project, image_ids=data["image_ids"])
            messages.success(request, f"Deleted {n} image{'s' if n != 1 else ''}.")
    except errors.ProjectsError as exc:
        messages.error(request, exc.message)
    return _after_change(request, project)


# ---------------------------------------------------------------------------------------------- tags


@require_POST
@access(Need.LABEL)
def tag_create(request: HtmxHttpRequest, project_id: UUID) -> HttpResponse:
    """Create a tag from the tag panel, or from the upload page's picker (``picker=1``: it comes back checked)."""
    project = selectors.project_get_for(user=request.user, project_id=project_id)
    form = TagForm(request.POST)
    tag: Tag | None = None
    error = ""
    if form.is_valid():
        try:
            tag = services.tag_create(project=project, name=form.cleaned_data["name"], type=form.cleaned_data["type"])
        except errors.ProjectsError as exc:
            error = exc.message
    else:
        error = " ".join(str(e) for errs in form.errors.values() for e in errs)
    if request.POST.get("picker"):
        checked = {str(t) for t in request.POST.getlist("tags")} | ({str(tag.id)} if tag else set())
        context = {"project": project, "tags": selectors.tag_list(project=project), "checked": checked,
                   "tag_error": error}
        return render(request, "projects/image_upload.html#tag-picker", context)
    if error:
        messages.error(request, error)
    return _after_change(request, project)


@require_http_methods(["GET", "POST"])
@access(Need.LABEL)
def tag_edit(request: HtmxHttpRequest, project_id: UUID, tag_id: UUID) -> HttpResponse:
    """Rename a tag; GET (htmx) gives the inline rename form in place of the tag's row."""
    project = selectors.project_get_for(user=request.user, project_id=project_id)
    tag = selectors.tag_get(project=project, tag_id=tag_id)
    if request.method == "GET":
        context = {"project": project, "tag": tag, "query": request.GET.urlencode()}
        template = "projects/tag_edit.html#tag-rename" if request.htmx else "projects/tag_edit.html"
        return render(request, template, context)
    form = TagForm(request.POST)
    if form.is_valid():
        try:
            services.tag_update(tag=tag, name=form.cleaned_data["name"])
        except errors.ProjectsError as exc:
            messages.error(request, exc.message)
    else:
        messages.error(request, " ".join(str(e) for errs in form.errors.values() for e in errs))
    return _after_change(request, project)


@require_POST
@access(Need.TRAIN)
def tag_delete(request: HtmxHttpRequest, project_id: UUID, tag_id: UUID) -> HttpResponse:
    project = selectors.project_get_for(user=request.user, project_id=project_id)
    tag = selectors.tag_get(project=project, tag_id=tag_id)
    services.tag_delete(tag=tag)
    messages.success(request, f"Tag “{tag.name}” deleted.")
    return _after_change(request, project)


# ---------------------------------------------------------------------------------------------- upload


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


@require_http_methods(["GET", "POST"])
@access(Need.LABEL)
def image_upload(request: HtmxHttpRequest, project_id: UUID) -> HttpResponse:
    """GET: the drop zone. POST: one or more files (+ batch tags); JSON per file for the uploader script."""
    project = selectors.project_get_for(user=request.user, project_id=project_id)
    tags = list(selectors.tag_list(project=project))
    if request.method == "GET":
        context = {"project": project, "tags": tags, "checked": set(request.GET.getlist("tag"))}
        return render(request, "projects/image_upload.html", context)
    form = UploadTagsForm(request.POST, tags=tags)
    if not form.is_valid():
        if _wants_json(request):
            return JsonResponse({"status": "ErrorInvalidTag", "message": "Unknown tag."}, status=400)
        return HttpResponse("Unknown tag.", status=400)
    if len(form.cleaned_data["tags"]) > 1 and not project.is_multilabel and not project.is_detection:
        return HttpResponse("An image of a multiclass project carries one tag: pick one for this batch.", status=400)
    results = []
    for upload in request.FILES.getlist("file"):
        # One byte over the limit is enough for the service to refuse it; never read a huge file whole.
        data = upload.read(settings.TAGSIGHT_MAX_IMAGE_BYTES + 1)
        result = services.image_upload(
            project=project, data=data, filename=upload.name or "", tags=form.cleaned_data["tags"]
        )
        results.append(
            {
                "filename": upload.name,
                "status": result.status,
                "ok": result.ok,
                "message": result.message,
                "image_id": str(result.image.id) if result.image else None,
                "thumbnail_url": reverse("projects:image-file", args=[result.image.id, "thumbnail"])
                if result.image
                else None,
            }
        )
    if _wants_json(request):
        if len(results) == 1:
            only = results[0]
            return JsonResponse(only, status=201 if only["status"] == "OK" else (200 if only["ok"] else 400))
        return JsonResponse({"results": results}, status=200 if results else 400)
    context = {"project": project, "tags": tags, "checked": {str(t) for t in form.cleaned_data["tags"]},
               "results": results}
    return render(request, "projects/image_upload.html", context, status=200 if results else 400)


# ---------------------------------------------------------------------------------------------- one image


def _image_context(image: Any) -> dict[str, Any]:
    on = {t.id for t in image.tags.all()}
    tags = selectors.tag_list(project=image.project)
    newer, older = selectors.image_neighbors(image=image)
    return {"image": image, "project": image.project, "tag_states": [(t, t.id in on) for t in tags],
            "newer_id": newer, "older_id": older}


@require_GET
@access(Need.VIEW)
def image_detail(request: HtmxHttpRequest, image_id: UUID) -> HttpResponse:
    """One image at display size with its tags; htmx: ``#image-panel`` for the grid's dialog."""
    image = selectors.image_get_for(user=request.user, image_id=image_id)
    context = _image_context(image)
    if request.htmx and not request.htmx.boosted:
        return render(request, "projects/image_detail.html#image-panel", context)
    return render(request, "projects/image_detail.html", context)


@require_POST
@access(Need.LABEL)
def image_tags(request: HtmxHttpRequest, image_id: UUID) -> HttpResponse:
    """Toggle one tag on one image from the image panel."""
    image = selectors.image_get_for(user=request.user, image_id=image_id)
    tag = selectors.tag_get(project=image.project, tag_id=request.POST.get("tag_id", ""))
    try:
        if request.POST.get("action") == "remove":
            services.images_untag(project=image.project, image_ids=[image.id], tag_ids=[tag.id])
        else:
            services.images_tag_set(project=image.project, image_ids=[image.id], tag_id=tag.id)
    except errors.ProjectsError as exc:
        messages.error(request, exc.message)
    if request.htmx:
        image = selectors.image_get_for(user=request.user, image_id=image_id)
        return render(request, "projects/image_detail.html#image-panel", _image_context(image))
    return redirect("projects:image-detail", image_id=image.id)


_KINDS = {"original": "file", "display": "display", "thumbnail": "thumbnail"}


@require_GET
@access(Need.VIEW)
def image_file(request: HtmxHttpRequest, image_id: UUID, kind: str) -> HttpResponse | FileResponse:
    """Media behind the login: streamed from disk, or a redirect to a presigned S3 URL. Strangers get 404."""
    if kind not in _KINDS:
        raise Http404("No such rendition.")
    image = selectors.image_get_for(user=request.user, image_id=image_id)
    name = getattr(image, _KINDS[kind]).name
    content_type = image.content_type if name == image.file.name else "image/jpeg"
    # An image id's bytes never change (orientation is applied once, at upload): served as immutable.
    filename = _safe_filename(image.original_name, name) if kind == "original" else ""
    return stored_file_response(name, content_type=content_type, filename=filename)


def _safe_filename(original: str, stored: str) -> str:
    name = "".join(c for c in original if c.isalnum() or c in "._- ")[:100]
    return name or stored.rsplit("/", 1)[-1]
