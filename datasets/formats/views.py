"""Portal pages: Import dataset (upload a zip -> preview of what will be created and every problem -> confirm)
and Export dataset (format and scope -> zip download)."""

from __future__ import annotations

import logging
import tempfile
import uuid
from datetime import timedelta
from typing import Any
from uuid import UUID

from django.contrib import messages
from django.core.files.storage import default_storage
from django.db import transaction
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.middleware import HtmxDetails

from datasets.formats import tasks
from datasets.formats.forms import ExportForm, ImportForm
from datasets.formats.registry import FORMATS
from datasets.formats.services import (
    DatasetError,
    ImportPlan,
    export_dataset,
    export_write,
    import_apply,
    import_job_queued,
    import_job_state,
    import_plan,
)
from projects import selectors
from projects.models import Project
from workspaces.access import Need, access, can

logger = logging.getLogger(__name__)


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails

PENDING = "datasets/formats/pending"  # uploaded zips waiting for the user's confirmation
SESSION_KEY = "dataset_imports"
PENDING_MAX_AGE = timedelta(days=1)
PREVIEW_ROWS = 200
JOBS_KEY = "dataset_import_jobs"
BACKGROUND_FROM = 100  # images: an import this large runs in the worker, not in the request


def _pending_sweep() -> None:
    """Forget uploads never confirmed nor cancelled (best effort)."""
    try:
        _, files = default_storage.listdir(PENDING)
    except (FileNotFoundError, OSError, NotImplementedError):
        return
    cutoff = timezone.now() - PENDING_MAX_AGE
    for name in files:
        try:
            if default_storage.get_modified_time(f"{PENDING}/{name}") < cutoff:
                default_storage.delete(f"{PENDING}/{name}")
        except Exception:  # another request may have removed it
            logger.debug("could not sweep %s", name, exc_info=True)


def _preview(request: HttpRequest, project: Project, form: ImportForm, plan: ImportPlan | None = None,
             token: str = "", upload_name: str = "", status: int = 200) -> HttpResponse:
    context: dict[str, Any] = {"project": project, "form": form, "plan": plan, "token": token,
                               "upload_name": upload_name}
    if plan is not None:
        context["rows"] = plan.items[:PREVIEW_ROWS]
        context["more_rows"] = max(0, len(plan.items) - PREVIEW_ROWS)
        context["errors"] = plan.problems.errors
        context["warnings"] = plan.problems.warnings
        context["format_label"] = FORMATS[plan.format].LABEL
    return render(request, "datasets/formats/import.html", context, status=status)



def toolbar_link(request: HttpRequest, project: Project) -> str:
    """The Training Images toolbar's "Import dataset" / "Export dataset" (projects.views.images_toolbar_add)."""
    can_label = can(request.user, project.workspace_id, Need.LABEL)
    can_train = can(request.user, project.workspace_id, Need.TRAIN)
    if not can_label:
        return ""
    return render_to_string("datasets/formats/_toolbar.html",
                            {"project": project, "can_label": can_label, "can_train": can_train}, request=request)

@require_http_methods(["GET", "POST"])
@access(Need.LABEL)
def dataset_import(request: HtmxHttpRequest, project_id: UUID) -> HttpResponse:
    """GET: choose a format and a zip. POST: the preview, written nothing yet; Import confirms it."""
    project = selectors.project_get_for(user=request.user, project_id=project_id)
    if request.method == "GET":
        job = request.GET.get("job", "")
        if job:
            return _job(request, project, job)
        return _preview(request, project, ImportForm(project=project))
    form = ImportForm(request.POST, request.FILES, project=project)
    if not form.is_valid():
        return _preview(request, project, form, status=400)
    _pending_sweep()
    token = uuid.uuid4().hex
    upload = form.cleaned_data["file"]
    stored = default_storage.save(f"{PENDING}/{token}.zip", upload)
    pending = request.session.get(SESSION_KEY, {})
    pending[token] = {"project": str(project.id), "format": form.cleaned_data["format"], "path": stored,
                      "name": upload.name or "dataset.zip"}
    request.session[SESSION_KEY] = pending
    with default_storage.open(stored, "rb") as handle:
        plan = import_plan(project=project, format=form.cleaned_data["format"], source=handle)
    return _preview(request, project, form, plan, token, upload.name or "", status=200 if plan.ok else 400)


def _job(request: HtmxHttpRequest, project: Project, job: str) -> HttpResponse:
    """A background import's state: polled (htmx) until the worker is done."""
    state = import_job_state(job=job) if job in request.session.get(JOBS_KEY, []) else None
    if state is None or state.get("project") != str(project.id):
        messages.error(request, "No such import in this session.")
        return redirect("datasets:formats-import", project_id=project.id)
    context = {"project": project, "job": job, "state": state}
    if request.htmx:
        return render(request, "datasets/formats/import.html#job", context)
    return render(request, "datasets/formats/import.html", context)


@require_POST
@access(Need.LABEL)
def dataset_import_confirm(request: HttpRequest, project_id: UUID) -> HttpResponse:
    """Import the previewed zip (checked again: the project may have changed), or cancel it."""
    project = selectors.project_get_for(user=request.user, project_id=project_id)
    pending = request.session.get(SESSION_KEY, {})
    token = request.POST.get("token", "")
    entry = pending.get(token)
    if entry is None or entry["project"] != str(project.id):
        messages.error(request, "That import is no longer waiting for confirmation; upload the zip again.")
        return redirect("datasets:formats-import", project_id=project.id)

    def forget() -> None:
        pending.pop(token, None)
        request.session[SESSION_KEY] = pending
        default_storage.delete(entry["path"])

    if "cancel" in request.POST:
        forget()
        messages.info(request, "Import cancelled; nothing was written.")
        return redirect("projects:project-detail", project_id=project.id)
    try:
        with default_storage.open(entry["path"], "rb") as handle:
            plan = import_plan(project=project, format=entry["format"], source=handle)
    except FileNotFoundError:
        pending.pop(token, None)
        request.session[SESSION_KEY] = pending
        messages.error(request, "The uploaded zip is gone; upload it again.")
        return redirect("datasets:formats-import", project_id=project.id)
    form = ImportForm(initial={"format": entry["format"]}, project=project)
    if not plan.ok:
        return _preview(request, project, form, plan, token, entry["name"], status=400)
    if len(plan.items) >= BACKGROUND_FROM:  # the worker writes it; the page polls its state
        pending.pop(token, None)
        request.session[SESSION_KEY] = pending
        request.session[JOBS_KEY] = [*request.session.get(JOBS_KEY, [])[-9:], token]
        import_job_queued(job=token, project=project, name=entry["name"])
        args = (token, str(project.id), entry["format"], entry["path"], entry["name"])
        transaction.on_commit(lambda: tasks.dataset_import.delay(*args))
        return redirect(f"{reverse('datasets:formats-import', args=[project.id])}?job={token}")
    try:
        result = import_apply(plan=plan)
    except DatasetError as exc:
        plan.problems.error("", str(exc))
        return _preview(request, project, form, plan, token, entry["name"], status=400)
    forget()
    messages.success(request, f"Imported {result.images} image{'s' if result.images != 1 else ''}"
                              f"{f', {result.boxes} boxes' if project.is_detection else ''} and "
                              f"{result.tags} new tag{'s' if result.tags != 1 else ''} from {entry['name']}.")
    return redirect("projects:project-detail", project_id=project.id)


@require_GET
@access(Need.TRAIN)
def dataset_export(request: HttpRequest, project_id: UUID) -> HttpResponse | FileResponse:
    """The export form; submitted (``format`` given), the zip itself."""
    project = selectors.project_get_for(user=request.user, project_id=project_id)
    if "format" not in request.GET:
        return render(request, "datasets/formats/export.html",
                      {"project": project, "form": ExportForm(project=project)})
    form = ExportForm(request.GET, project=project)
    if not form.is_valid():
        return render(request, "datasets/formats/export.html", {"project": project, "form": form}, status=400)
    data = form.cleaned_data
    scope = data["scope"]
    try:
        dataset = export_dataset(
            project=project,
            tag_ids=[t.id for t in data["tags"]] if scope == "tags" else (),
            iteration=data["iteration"] if scope == "iteration" else None,
            split=data["split"] if scope == "iteration" else "",
        )
        out = tempfile.TemporaryFile()  # closed by the response once streamed
        export_write(dataset=dataset, format=data["format"], out=out)
    except DatasetError as exc:
        form.add_error(None, str(exc))
        return render(request, "datasets/formats/export.html", {"project": project, "form": form}, status=400)
    out.seek(0)
    suffix = f"-{data['iteration'].name}-{data['split']}" if scope == "iteration" else ""
    name = f"{slugify(project.name) or 'project'}{slugify(suffix) and '-' + slugify(suffix)}-{data['format']}.zip"
    return FileResponse(out, as_attachment=True, filename=name, content_type="application/zip")
