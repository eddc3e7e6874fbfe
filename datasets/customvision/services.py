"""Import projects from a Custom Vision resource (Azure's, or another Tagsight: same wire format).

Steps: :func:`import_discover` reads the projects at an endpoint and records them as a job waiting for a pick;
:func:`import_start` queues the picked ones for a worker (or the CLI runs :func:`import_run` in the foreground).
Writes go through our own services (project_create, tag_create, image_upload with labeling's region check), so an
imported image is stored and deduplicated exactly like an upload. ImportedItem maps each source id to ours as it
is written: a rerun, or a job resumed after its worker died, imports only what is missing.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from datasets.customvision.client import CustomVisionError, SourceProject, TrainingClient, retry_policy
from datasets.customvision.models import ImportedItem, ImportJob
from projects import errors
from projects.domains import (
    DEFAULT_CLASSIFICATION_DOMAIN,
    DEFAULT_DETECTION_DOMAIN,
    DOMAINS,
    DOMAINS_BY_ID,
    OBJECT_DETECTION,
)
from projects.models import Image, Project, Tag
from projects.services import image_upload, project_create, tag_create
from training.services.reaper import jobs_lost, pid_alive
from workspaces import audit
from workspaces.models import Workspace

logger = logging.getLogger(__name__)

Status = ImportJob.Status
Kind = ImportedItem.Kind
KEY_KEPT_FOR_DRAFTS = timedelta(hours=1)  # a job found but never started forgets its key after this
MAX_REPORT_LINES = 200
CLI_HOST = "cli:"  # worker_hostname prefix of a job that `manage.py import_customvision` runs itself
ITERATIONS_LINE = (
    "Iterations are not carried: their trained models do not leave Azure in a form that can be trained further. "
    "Train each project here once it is imported."
)


class ImportError_(Exception):  # noqa: N801 - ImportError is Python's
    """The import cannot start (bad endpoint, refused key, nothing picked); ``message`` says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# ------------------------------------------------------------------------------------------- discover and start


def _client(endpoint: str, training_key: str) -> TrainingClient:
    """A client for the form's answer: a person waits for it, so few retries (a job retries for longer)."""
    try:
        return TrainingClient(endpoint, training_key, retry=retry_policy(tries=2, backoff_max=5))
    except CustomVisionError as exc:
        raise ImportError_(exc.message) from exc


def _domain_label(domain_id: str, source_domains: dict[str, dict[str, Any]]) -> tuple[str, str]:
    """(type, name) of a source domain, from its /domains list, else ours with that id."""
    found = source_domains.get(domain_id.lower())
    if found:
        return str(found.get("type") or ""), str(found.get("name") or "")
    try:
        ours = DOMAINS_BY_ID.get(UUID(domain_id))
    except ValueError:
        ours = None
    return (ours.type, ours.name) if ours else ("", "")


def domain_map(*, domain_id: str, source_domains: dict[str, dict[str, Any]]) -> tuple[UUID, str]:
    """Our domain for a source project's: the same id (ours are Azure's), else the same type and name in the source's
    /domains list, else the type's General one; with a note for the report when it is not the same."""
    try:
        same = DOMAINS_BY_ID.get(UUID(domain_id))
    except ValueError:
        same = None
    if same is not None:
        return same.id, ""
    domain_type, name = _domain_label(domain_id, source_domains)
    for ours in DOMAINS:
        if ours.type == domain_type and ours.name == name:
            return ours.id, f"its domain “{name}” is {ours.name} ({ours.type}) here."
    fallback = DEFAULT_DETECTION_DOMAIN if domain_type == OBJECT_DETECTION else DEFAULT_CLASSIFICATION_DOMAIN
    return fallback, (f"its domain “{name or domain_id}” has no match here; it uses "
                      f"{DOMAINS_BY_ID[fallback].name} ({DOMAINS_BY_ID[fallback].type}).")


def import_discover(*, workspace: Workspace, by: Any, endpoint: str, training_key: str) -> ImportJob:
    """Read the projects at ``endpoint`` with ``training_key`` (with their image counts) and record a job that
    waits for the pick. Raises ImportError_ (nothing written) when the endpoint or key is wrong."""
    client = _client(endpoint, training_key)
    try:
        domains = {str(d.get("id", "")).lower(): d for d in client.domains()}
        found = []
        for project in client.projects():
            domain_type, domain_name = _domain_label(project.domain_id, domains)
            found.append({
                "id": project.id, "name": project.name,
                "type": "Object detection" if domain_type == OBJECT_DETECTION else "Classification",
                "classification_type": project.classification_type, "domain": domain_name,
                "images": client.image_count(project.id),
            })
    except CustomVisionError as exc:
        raise ImportError_(exc.message) from exc
    finally:
        client.close()
    return ImportJob.objects.create(workspace=workspace, created_by=by if getattr(by, "pk", None) else None,
                                    endpoint=client.endpoint, training_key=training_key.strip(), found=found)


def import_start(*, job: ImportJob, project_ids: Iterable[str], queue: bool = True) -> ImportJob:
    """Import the picked projects: queued for a worker (or, ``queue=False``, left for the caller to run)."""
    known = {p["id"] for p in job.found}
    picked = [p for p in dict.fromkeys(str(i) for i in project_ids) if p]
    if not picked:
        raise ImportError_("Pick at least one project to import.")
    unknown = [p for p in picked if p not in known]
    if unknown:
        raise ImportError_(f"No project {unknown[0]} at {job.endpoint}.")
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().get(pk=job.pk)
        if job.status != Status.FOUND:
            raise ImportError_("This import has already started.")
        if not job.training_key:
            raise ImportError_("The training key is no longer kept for this import: enter it again.")
        active = ImportJob.objects.filter(workspace_id=job.workspace_id, status__in=(Status.QUEUED, Status.RUNNING))
        for other in active:
            overlap = set(other.selected) & set(picked)
            if overlap:
                name = next((p["name"] for p in job.found if p["id"] in overlap), "a project")
                raise ImportError_(f"“{name}” is being imported into this workspace already: wait for that import "
                                   "to finish, then run this one to add anything still missing.")
        job.selected = picked
        job.status = Status.QUEUED
        job.stage = "Waiting for a worker"
        job.images_total = sum(p["images"] for p in job.found if p["id"] in picked)
        job.save()
        if queue:
            transaction.on_commit(lambda: _schedule(job_id=job.pk))
    return job


def _schedule(*, job_id: UUID) -> None:
    from datasets.customvision.tasks import import_customvision

    import_customvision.apply_async(args=[str(job_id)], queue="default")


# ------------------------------------------------------------------------------------------- lost workers


def imports_reap_lost(*, local_hostname: str | None = None, job: ImportJob | None = None) -> int:
    """Hand a running import whose worker is gone (training's lost-worker rule) back to the queue: another worker
    resumes it where the map of imported ids says it stopped. Also forgets the keys of jobs never started."""
    now = timezone.now()
    ImportJob.objects.filter(status=Status.FOUND, created__lt=now - KEY_KEPT_FOR_DRAFTS).exclude(
        training_key="").update(training_key="")
    running = ImportJob.objects.filter(status=Status.RUNNING).exclude(worker_hostname="")
    if job is not None:
        running = running.filter(pk=job.pk)
    running_list = list(running.only("id", "started", "worker_hostname", "worker_pid", "worker_parent_pid"))
    commands = [j for j in running_list if j.worker_hostname.startswith(CLI_HOST)]
    running_list = [j for j in running_list if not j.worker_hostname.startswith(CLI_HOST)]
    failed = _fail_stopped_commands(commands)
    if not running_list:
        return failed
    requeued = 0
    for lost, reason in jobs_lost(running_list, now=now, local_hostname=local_hostname):
        with transaction.atomic():
            taken = ImportJob.objects.filter(pk=lost.pk, status=Status.RUNNING, started=lost.started).update(
                status=Status.QUEUED, stage=f"Worker lost ({reason}): waiting for another worker to resume",
                worker_hostname="", worker_pid=0, worker_parent_pid=0, resumed=F("resumed") + 1, modified=now,
            )
            if taken:
                requeued += 1
                logger.warning("import %s: worker %s lost (%s); queued again", lost.pk, lost.worker_hostname, reason)
                transaction.on_commit(lambda job_id=lost.pk: _schedule(job_id=job_id))  # type: ignore[misc]
    return requeued + failed


def _fail_stopped_commands(jobs: list[ImportJob]) -> int:
    """Fail the imports of ``manage.py import_customvision`` whose process is gone (killed: an interrupted one
    fails itself). A command has no heartbeat: only this machine can tell, by its pid, and only for its own."""
    here = CLI_HOST + socket.gethostname()
    failed = 0
    for job in jobs:
        if job.worker_hostname != here or not job.worker_pid or pid_alive(job.worker_pid):
            continue
        error = (f"The import command stopped (process {job.worker_pid} on {socket.gethostname()} is gone). Run the "
                 "same command again to resume: what was imported stays, and only what is missing is imported.")
        if ImportJob.objects.filter(pk=job.pk, status=Status.RUNNING, started=job.started).update(
                status=Status.FAILED, error=error, training_key="", stage="", finished=timezone.now(),
                modified=timezone.now()):
            failed += 1
            logger.warning("import %s: its command (pid %s) is gone; failed", job.pk, job.worker_pid)
    return failed


def import_get(*, job_id: Any) -> ImportJob:
    """The job as it stands, a lost worker's job handed back to the queue first."""
    job = ImportJob.objects.get(pk=job_id)
    if job.status == Status.RUNNING and imports_reap_lost(job=job):
        job.refresh_from_db()
    return job


# ------------------------------------------------------------------------------------------- run


def import_run(*, job_id: Any, worker_hostname: str = "", progress: Callable[[ImportJob], None] | None = None) -> None:
    """Run a queued job to its end (the Celery task; the CLI with ``worker_hostname=""``, recorded as
    ``CLI_HOST`` + this machine's name and its pid). Never raises for a source's errors: they end in the report, or
    as Failed with the reason."""
    now = timezone.now()
    claimed = ImportJob.objects.filter(pk=job_id, status=Status.QUEUED).update(
        status=Status.RUNNING, started=now, modified=now, stage="Starting",
        worker_hostname=(worker_hostname or CLI_HOST + socket.gethostname())[:255], worker_pid=os.getpid(),
        worker_parent_pid=os.getppid() if worker_hostname else 0,
    )
    if not claimed:  # finished, or already picked up by another worker
        logger.info("import %s is not queued any more; skipping", job_id)
        return
    job = ImportJob.objects.select_related("workspace", "created_by").get(pk=job_id)
    user = job.created_by
    actor = audit.Actor(user.pk, user.get_username()) if user is not None else audit.SYSTEM
    with audit.acting_as(actor):
        try:
            _Run(job, progress).run()
        except CustomVisionError as exc:
            _finish(job, Status.FAILED, error=f"{exc.message} Start the import again to resume: what was "
                    "imported stays, and only what is missing is imported.")
        except Exception as exc:
            logger.exception("import %s failed", job.pk)
            _finish(job, Status.FAILED, error=f"The import stopped: {exc}. Start it again to resume.")


def _finish(job: ImportJob, status: str, *, error: str = "") -> None:
    ImportJob.objects.filter(pk=job.pk).update(status=status, error=error, training_key="", stage="",
                                               finished=timezone.now(), modified=timezone.now())


@dataclass
class _Mapped:
    target: UUID
    this_job: bool


class _Run:
    """One run of a job: project by project, image by image, each written then mapped (the checkpoint)."""

    def __init__(self, job: ImportJob, progress: Callable[[ImportJob], None] | None) -> None:
        self.job = job
        self.client = TrainingClient(job.endpoint, job.training_key)
        self.progress = progress
        self.source_domains: dict[str, dict[str, Any]] = {}

    # ----------------------------------------------------------------- bookkeeping

    def _mapped(self, kind: str, source_id: str) -> _Mapped | None:
        row = ImportedItem.objects.filter(workspace_id=self.job.workspace_id, kind=kind, source_id=source_id).values(
            "target_id", "job_id").first()
        return _Mapped(row["target_id"], row["job_id"] == self.job.pk) if row else None

    def _map(self, kind: str, source_id: str, source_project_id: str, target: UUID) -> None:
        ImportedItem.objects.update_or_create(
            workspace_id=self.job.workspace_id, kind=kind, source_id=source_id,
            defaults={"target_id": target, "source_project_id": source_project_id, "job": self.job},
        )

    def _report(self, level: str, text: str, project: str = "", target: UUID | None = None) -> None:
        """Add a report line: level info | warning | error | summary (a project's outcome, ``target`` its project
        here) | note."""
        job = ImportJob.objects.get(pk=self.job.pk)
        lines = list(job.report)
        if len(lines) >= MAX_REPORT_LINES and level not in ("summary", "note"):
            if not lines[-1].get("more"):
                lines.append({"level": "warning", "text": "More lines were left out.", "more": True})
        else:
            lines.append({"level": level, "text": text, "project": project,
                          "target": str(target) if target else ""})
        ImportJob.objects.filter(pk=self.job.pk).update(report=lines, modified=timezone.now())

    def _stage(self, text: str) -> None:
        ImportJob.objects.filter(pk=self.job.pk).update(stage=text[:300], modified=timezone.now())
        if self.progress is not None:
            self.progress(ImportJob.objects.get(pk=self.job.pk))

    def _count(self, field: str) -> None:
        ImportJob.objects.filter(pk=self.job.pk).update(**{field: F(field) + 1}, modified=timezone.now())

    # ----------------------------------------------------------------- the run

    def run(self) -> None:
        try:
            self.source_domains = {str(d.get("id", "")).lower(): d for d in self.client.domains()}
            failed = 0
            names = []
            for index, source_id in enumerate(self.job.selected, 1):
                try:
                    source = self.client.project(source_id)
                    names.append(source.name)
                    self._stage(f"Project {index} of {len(self.job.selected)}: {source.name}")
                    self._project(source)
                except CustomVisionError as exc:
                    if exc.status is None or exc.status in (401, 403, 429) or exc.status >= 500:
                        raise  # the whole source is unreachable or refusing: stop, resumable
                    failed += 1
                    self._report("error", f"Project {source_id} could not be imported: {exc.message}", source_id)
        finally:
            self.client.close()
        job = ImportJob.objects.get(pk=self.job.pk)
        if not any(line.get("text") == ITERATIONS_LINE for line in job.report):
            self._report("note", ITERATIONS_LINE)
        with transaction.atomic():
            audit.record(workspace_id=self.job.workspace_id, action="import.customvision",
                         count=job.images_imported, endpoint=self.job.endpoint, projects=", ".join(names))
        _finish(self.job, Status.FAILED if failed == len(self.job.selected) else Status.COMPLETED,
                error="No project could be imported." if failed == len(self.job.selected) else "")

    def _project(self, source: SourceProject) -> None:
        project, created = self._target_project(source)
        tags = self._tags(source, project)
        # What is already here, read once (a rerun of a large project must not cost two queries an image).
        existing = set(Image.objects.filter(project=project).values_list("id", flat=True))
        mapped = {
            row["source_id"]: _Mapped(row["target_id"], row["job_id"] == self.job.pk)
            for row in ImportedItem.objects.filter(workspace_id=self.job.workspace_id, kind=Kind.IMAGE,
                                                   source_project_id=source.id).values("source_id", "target_id",
                                                                                       "job_id")
            if row["target_id"] in existing
        }
        for image in self.client.images(source.id):
            self._image(source, project, tags, image, mapped.get(str(image["id"])))
        iterations = len(self.client.iterations(source.id))
        mine = ImportedItem.objects.filter(job=self.job, kind=Kind.IMAGE, source_project_id=source.id).count()
        earlier = ImportedItem.objects.filter(workspace_id=self.job.workspace_id, kind=Kind.IMAGE,
                                              source_project_id=source.id).exclude(job=self.job).count()
        failed = sum(1 for line in ImportJob.objects.get(pk=self.job.pk).report
                     if line.get("project") == source.id and line.get("level") == "error")
        parts = [f"{mine} image{'s' if mine != 1 else ''} imported"]
        if earlier:
            parts.append(f"{earlier} already there from an earlier import (skipped)")
        if failed:
            parts.append(f"{failed} failed (see above)")
        parts.append(f"{len(tags)} tag{'s' if len(tags) != 1 else ''}")
        if iterations:
            parts.append(f"{iterations} iteration{'s' if iterations != 1 else ''} not carried")
        self._report("summary", f"“{project.name}” ({'new' if created else 'existing'} project): "
                     + ", ".join(parts) + ".", source.id, project.id)

    def _target_project(self, source: SourceProject) -> tuple[Project, bool]:
        mapped = self._mapped(Kind.PROJECT, source.id)
        if mapped is not None:
            existing = Project.objects.filter(pk=mapped.target, workspace_id=self.job.workspace_id).first()
            if existing is not None:
                return existing, mapped.this_job
            # Deleted here since: forget what was mapped into it and import it again.
            ImportedItem.objects.filter(workspace_id=self.job.workspace_id, source_project_id=source.id).delete()
        domain_id, note = domain_map(domain_id=source.domain_id, source_domains=self.source_domains)
        classification = source.classification_type
        if classification not in Project.ClassificationType.values:
            classification = Project.ClassificationType.MULTICLASS
        with transaction.atomic():
            project = project_create(created_by=self.job.created_by, workspace=self.job.workspace_id,
                                     name=source.name or "Imported project", description=source.description,
                                     classification_type=classification, domain_id=domain_id)
            self._map(Kind.PROJECT, source.id, source.id, project.id)
        if note:
            self._report("warning", f"“{source.name}”: {note}", source.id)
        return project, True

    def _tags(self, source: SourceProject, project: Project) -> dict[str, UUID]:
        """Source tag id -> our tag id, for every tag that could be carried."""
        out: dict[str, UUID] = {}
        for raw in self.client.tags(source.id):
            source_tag = str(raw["id"])
            mapped = self._mapped(Kind.TAG, source_tag)
            if mapped is not None and Tag.objects.filter(pk=mapped.target, project=project).exists():
                out[source_tag] = mapped.target
                continue
            name, kind = str(raw.get("name") or ""), str(raw.get("type") or "Regular")
            if kind not in Tag.TagType.values:
                self._report("warning", f"Tag “{name}” ({kind}) is imported as a Regular tag: {kind} tags do not "
                             "exist here.", source.id)
                kind = Tag.TagType.REGULAR
            same = Tag.objects.filter(project=project, name__iexact=name).first()
            try:
                with transaction.atomic():
                    tag = same or tag_create(project=project, name=name, description=str(raw.get("description") or ""),
                                             type=kind)
                    self._map(Kind.TAG, source_tag, source.id, tag.id)
            except errors.ProjectsError as exc:
                self._report("error", f"Tag “{name}” skipped: {exc.message} Its images come without it.", source.id)
                continue
            out[source_tag] = tag.id
        return out

    def _image(self, source: SourceProject, project: Project, tags: dict[str, UUID], raw: dict[str, Any],
               mapped: _Mapped | None) -> None:
        """One image: already here (mapped to an image of the project) or downloaded, uploaded, then mapped."""
        source_image = str(raw["id"])
        if mapped is not None:
            if not mapped.this_job:  # counted by this job before it was resumed otherwise
                self._count("images_present")
            return
        label = str(raw.get("originalImageUri") or source_image).split("?")[0].rsplit("/", 1)[-1]
        url = raw.get("originalImageUri")
        if not url:
            return self._failed(source, f"Image {source_image} skipped: the source gives no original for it.")
        try:
            data = self.client.download(str(url))
        except CustomVisionError as exc:
            if exc.status is None or exc.status == 429 or exc.status >= 500:
                raise
            return self._failed(source, f"Image {source_image} skipped: {exc.message}")
        regions = [{"tag": tags[str(r["tagId"])], **{k: r[k] for k in ("left", "top", "width", "height")}}
                   for r in raw.get("regions") or [] if str(r.get("tagId")) in tags]
        image_tags = [tags[str(t["tagId"])] for t in raw.get("tags") or [] if str(t.get("tagId")) in tags]
        metadata = raw.get("metadata") or None
        try:
            result = image_upload(project=project, data=data, filename=label, tags=image_tags, regions=regions,
                                  metadata=metadata)
        except errors.InvalidMetadata as exc:
            self._report("warning", f"Image {source_image}: its metadata was left out ({exc.message})", source.id)
            result = image_upload(project=project, data=data, filename=label, tags=image_tags, regions=regions)
        if not result.ok or result.image is None:
            return self._failed(source, f"Image {source_image} skipped: {result.message or result.status}.")
        with transaction.atomic():
            self._map(Kind.IMAGE, source_image, source.id, result.image.id)
            self._count("images_imported" if result.status == "OK" else "images_present")
        done = ImportJob.objects.filter(pk=self.job.pk).values_list(
            "images_imported", "images_present", "images_failed", "images_total").get()
        self._stage(f"{source.name}: {sum(done[:3])} of {done[3]} images")

    def _failed(self, source: SourceProject, text: str) -> None:
        self._count("images_failed")
        self._report("error", text, source.id)
