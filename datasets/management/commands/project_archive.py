"""`manage.py project_archive export PROJECT_ID OUT.zip [--iterations]` and
`manage.py project_archive import IN.zip --workspace NAME [--name NEW]`: project archives from the shell."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from datasets.archives.export import archive_chunks
from datasets.archives.format import ArchiveError
from datasets.archives.imports import archive_import
from projects.models import Project
from workspaces import audit
from workspaces.errors import WorkspaceError
from workspaces.services import workspace_by_name


class Command(BaseCommand):
    help = "Export a project to an archive (.zip), or import an archive as a new project of a workspace."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="{export,import}")
        export = sub.add_parser("export", help="write PROJECT_ID's archive to OUT (a .zip)")
        export.add_argument("project_id")
        export.add_argument("out", type=Path)
        export.add_argument("--iterations", action="store_true",
                            help="include the finished iterations with their models and metrics")
        imp = sub.add_parser("import", help="import the archive IN as a new project of workspace NAME")
        imp.add_argument("source", type=Path, metavar="IN")
        imp.add_argument("--workspace", required=True, help="the workspace's name")
        imp.add_argument("--name", default="", help="the new project's name (default: the archived one's)")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        try:
            if action == "export":
                self._export(project_id=options["project_id"], out=options["out"], iterations=options["iterations"])
            else:
                self._import(source=options["source"], workspace=options["workspace"], name=options["name"])
        except ArchiveError as exc:
            raise CommandError("\n".join(exc.problems)) from exc
        except WorkspaceError as exc:
            raise CommandError(exc.message) from exc

    def _export(self, *, project_id: str, out: Path, iterations: bool) -> None:
        try:
            project = Project.objects.get(id=project_id)
        except (Project.DoesNotExist, ValidationError) as exc:
            raise CommandError(f"No project with id {project_id!r}.") from exc
        if not out.resolve().parent.is_dir():
            raise CommandError(f"No folder {out.resolve().parent} to write {out.name} in.")
        # Written beside OUT and renamed at the end: OUT is whole or absent.
        fd, part = tempfile.mkstemp(dir=out.resolve().parent, prefix=f".{out.name}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as handle:
                for chunk in archive_chunks(project=project, include_iterations=iterations):
                    handle.write(chunk)
            os.replace(part, out)
        except BaseException:
            Path(part).unlink(missing_ok=True)
            raise
        audit.record(workspace_id=project.workspace_id, action="project.archive", project=project,
                     contents="with iterations" if iterations else "without iterations")
        self.stdout.write(f"Wrote {out} ({out.stat().st_size:,} bytes).")

    def _import(self, *, source: Path, workspace: str, name: str) -> None:
        if not source.is_file():
            raise CommandError(f"No file {source}.")
        target = workspace_by_name(workspace)
        project, preview = archive_import(source=source, workspace=target, name=name)
        for note in preview.notes:
            self.stdout.write(f"Note: {note}")
        counts = ", ".join(f"{what}: {n}" for what, n in preview.counts.items())
        self.stdout.write(f"Imported {project.name!r} as project {project.id} in {target.name!r} ({counts}).")
