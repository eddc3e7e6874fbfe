"""Portal pages of project archives: download one (project settings), import one (projects list → preview → confirm).

The download streams (``export.archive_chunks``): no copy is built in memory or storage, whatever the project's
size, and the browser shows its progress. An uploaded archive waits in storage between the preview and the
confirmation; the confirmation names it with a signed token bound to the user and the workspace.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.contrib import messages
from django.core import signing
from django.core.files.storage import default_storage
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods
from django_htmx.http import HttpResponseStopPolling

from datasets.archives.background import archives_reap_lost
from datasets.archives.export import archive_chunks, archive_filename
from datasets.archives.format import ArchiveError
from datasets.archives.imports import archive_import, archive_inspect
from datasets.archives.models import ArchiveImport
from datasets.archives.queue import archive_import_queue
from projects.errors import ProjectsError
from projects.selectors import project_get_for
from workspaces import audit
from workspaces.access import Need, access

logger = logging.getLogger(__name__)

UPLOADS = "archive-imports"  # storage folder of archives waiting for their confirmation
TOKEN_SALT = "tagsight.datasets.archive-import"
TOKEN_MAX_AGE = timedelta(days=1)



def list_action(request: HttpRequest) -> str:
    """The projects list's "Import project" button (projects.views.project_list_action_add)."""
    from django.template.loader import render_to_string

    from workspaces.access import Need, can

    if not can(request.user, request.access.workspace_id, Need.TRAIN):  # type: ignore[attr-defined]
        return ""
    return render_to_string("datasets/archives/_list_action.html", request=request)

@require_GET
@access(Need.TRAIN)
def archive_export(request: HttpRequest, project_id: UUID) -> StreamingHttpResponse:
    """The project's archive as a download (``?iterations=1``: with its iterations and their models)."""
    project = project_get_for(user=request.user, project_id=project_id)
    iterations = request.GET.get("iterations") == "1"
    audit.record(workspace_id=project.workspace_id, action="project.archive", project=project,
                 contents="with iterations" if iterations else "without iterations")
    response = StreamingHttpResponse(archive_chunks(project=project, include_iterations=iterations),
                                     content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{archive_filename(project=project)}"'
    response["Cache-Control"] = "no-store"
    return response


def _uploads_prune() -> None:
    """Forget archives whose preview was never confirmed (older than the token's life)."""
    if not default_storage.exists(UPLOADS):
        return
    cutoff = timezone.now() - TOKEN_MAX_AGE
    for name in default_storage.listdir(UPLOADS)[1]:
        try:
            if default_storage.get_modified_time(f"{UPLOADS}/{name}") < cutoff:
                default_storage.delete(f"{UPLOADS}/{name}")
        except (OSError, NotImplementedError):
            logger.warning("could not prune %s/%s", UPLOADS, name)


def _stored(token: str, *, request: HttpRequest) -> dict[str, Any]:
    """What a confirmation token says (the stored archive ``f``, its ``counts`` and ``filename``) once checked: for
    this user and workspace, and the archive still there; else ArchiveError."""
    try:
        payload: dict[str, Any] = signing.loads(token, salt=TOKEN_SALT, max_age=TOKEN_MAX_AGE)
    except signing.BadSignature:
        raise ArchiveError("This preview has expired: choose the archive again.") from None
    if payload.get("u") != request.user.pk or payload.get("w") != str(request.access.workspace_id):  # type: ignore[attr-defined]
        raise ArchiveError("This preview belongs to another workspace: choose the archive again.")
    name = str(payload.get("f", ""))
    if not name.startswith(f"{UPLOADS}/") or not default_storage.exists(name):
        raise ArchiveError("The uploaded archive is gone: choose it again.")
    return payload


@require_http_methods(["GET", "POST"])
@access(Need.TRAIN)
def archive_import_view(request: HttpRequest) -> HttpResponse:
    """Upload an archive, see what it holds and what stands in the way, confirm: a new project in this workspace."""
    workspace_id = request.access.workspace_id  # type: ignore[attr-defined]
    context: dict[str, Any] = {}
    if request.method == "POST" and request.POST.get("token"):
        new_name = request.POST.get("name", "").strip()
        try:
            pending = _stored(request.POST["token"], request=request)
            if pending["counts"]["images"] > settings.TAGSIGHT_ARCHIVE_INLINE_IMAGES:  # a worker imports big ones
                job = archive_import_queue(upload=pending["f"], workspace_id=workspace_id, created_by=request.user,
                                           name=new_name, filename=pending["filename"], counts=pending["counts"])
                return redirect("datasets:archive-import-status", archive_import_id=job.id)
            with default_storage.open(pending["f"], "rb") as handle:
                project, _ = archive_import(source=handle, workspace=workspace_id, created_by=request.user,
                                            name=new_name)
            default_storage.delete(pending["f"])
        except (ArchiveError, ProjectsError) as exc:
            context["problems"] = getattr(exc, "problems", None) or [exc.message]
        else:
            messages.success(request, f"Imported “{project.name}” from the archive.")
            return redirect("projects:project-detail", project_id=project.id)
    elif request.method == "POST":
        upload = request.FILES.get("archive")
        if upload is None:
            context["problems"] = ["Choose a project archive (.zip) to import."]
        else:
            _uploads_prune()
            name = default_storage.save(f"{UPLOADS}/{uuid.uuid4()}.zip", upload)
            try:
                with default_storage.open(name, "rb") as handle:
                    preview = archive_inspect(source=handle, workspace_id=workspace_id)
            except ArchiveError as exc:
                default_storage.delete(name)
                context["problems"] = exc.problems
            else:
                if not preview.ok:
                    default_storage.delete(name)
                token = signing.dumps({"f": name, "u": request.user.pk, "w": str(workspace_id),
                                       "counts": preview.counts, "filename": upload.name or ""}, salt=TOKEN_SALT)
                context.update(preview=preview, token=token, filename=upload.name)
    return render(request, "datasets/archives/archive_import.html", context)


@require_GET
@access(Need.TRAIN)
def archive_import_status(request: HttpRequest, archive_import_id: UUID) -> HttpResponse:
    """A background import: queued, importing, done (a link to the project) or failed (why); polled while running."""
    job = get_object_or_404(ArchiveImport, pk=archive_import_id,
                            workspace_id=request.access.workspace_id)  # type: ignore[attr-defined]
    if job.status == ArchiveImport.Status.RUNNING and archives_reap_lost(job=job):  # its worker is gone
        job.refresh_from_db()
    if request.htmx and job.is_finished:  # type: ignore[attr-defined]
        return HttpResponseStopPolling(render(request, "datasets/archives/archive_import_status.html#status",
                                              {"job": job}).content)
    template = "datasets/archives/archive_import_status.html"
    return render(request, f"{template}#status" if request.htmx else template, {"job": job})  # type: ignore[attr-defined]
