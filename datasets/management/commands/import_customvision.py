"""`manage.py import_customvision --endpoint URL --training-key KEY [--project ID ...] --workspace NAME`.

Imports projects from a Custom Vision training resource (Azure's, or another Tagsight) into a workspace, in the
foreground, printing progress and the report. Without --project, every project found there. Run it again to
complete an interrupted import: only what is missing is imported.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from datasets.customvision import services
from datasets.customvision.models import ImportJob
from workspaces.errors import WorkspaceError
from workspaces.services import workspace_by_name


class Command(BaseCommand):
    help = "Import projects (settings, tags, images, tags and boxes, metadata) from a Custom Vision endpoint."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--endpoint", required=True, help="the training resource's endpoint URL")
        parser.add_argument("--training-key", required=True, help="its training key (kept only while importing)")
        parser.add_argument("--project", action="append", default=[], metavar="ID",
                            help="a project id to import (repeat for several; default: every project)")
        parser.add_argument("--workspace", required=True, help="the workspace to import into (its name)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            workspace = workspace_by_name(options["workspace"])
        except WorkspaceError as exc:
            raise CommandError(exc.message) from exc
        try:
            job = services.import_discover(workspace=workspace, by=None, endpoint=options["endpoint"],
                                           training_key=options["training_key"])
            found = {p["id"]: p for p in job.found}
            wanted = options["project"] or list(found)
            for project_id in wanted:
                if project_id not in found:
                    job.delete()
                    raise CommandError(f"No project {project_id} at {job.endpoint}. Found: "
                                       + (", ".join(f"{p['id']} ({p['name']})" for p in job.found) or "none"))
            if not wanted:
                job.delete()
                self.stdout.write(f"No projects at {job.endpoint}.")
                return
            job = services.import_start(job=job, project_ids=wanted, queue=False)
        except services.ImportError_ as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"Importing {len(wanted)} project(s), {job.images_total} images, from {job.endpoint} "
                          f"into {workspace.name}.")
        def progress(current: ImportJob) -> None:
            if current.images_done % 25 == 0 or current.images_done == current.images_total:
                self.stdout.write(f"  {current.stage}")

        try:
            services.import_run(job_id=job.pk, progress=progress)
        except KeyboardInterrupt:
            ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.FAILED, training_key="",
                                                       error="Interrupted. Run the command again to resume.")
            raise CommandError("Interrupted: run the same command again to import the rest.") from None
        job.refresh_from_db()
        for line in job.report:
            self.stdout.write(("! " if line["level"] == "error" else "  ") + line["text"])
        summary = (f"{job.get_status_display()}: {job.images_imported} imported, {job.images_present} already there, "
                   f"{job.images_failed} failed.")
        if job.status != ImportJob.Status.COMPLETED:
            raise CommandError(f"{summary} {job.error}")
        self.stdout.write(self.style.SUCCESS(summary))
