"""`manage.py dataset_import --project ID --format coco|yolo|voc|csv|folders FILE.zip [--dry-run]`.

Prints the preview (what will be created, then every problem, one line each); imports only when there is no
error, all or nothing. --dry-run stops after the preview. Exit status 1 when there are errors.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from datasets.formats.cli import project_by_id
from datasets.formats.registry import FORMATS
from datasets.formats.services import DatasetError, import_apply, import_plan


class Command(BaseCommand):
    help = "Import a dataset zip (COCO, YOLO, Pascal VOC, CSV or folder per tag) into a project."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="the dataset zip")
        parser.add_argument("--project", required=True, help="the id of the project to import into")
        parser.add_argument("--format", required=True, choices=list(FORMATS))
        parser.add_argument("--dry-run", action="store_true", help="print the preview and write nothing")

    def handle(self, *args: Any, file: str, project: str, format: str, dry_run: bool, **options: Any) -> None:  # noqa: A002
        target = project_by_id(project)
        try:
            with open(file, "rb") as handle:
                plan = import_plan(project=target, format=format, source=handle)
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror}.") from exc
        for line in plan.summary():
            self.stdout.write(line)
        for problem in plan.problems:
            self.stdout.write(f"{problem.level.upper()}: {problem}")
        if not plan.ok:
            raise CommandError(f"{len(plan.problems.errors)} error(s); nothing was imported.")
        if dry_run:
            self.stdout.write("Dry run: nothing was written.")
            return
        try:
            result = import_apply(plan=plan)
        except DatasetError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(
            f"Imported {result.images} image(s), {result.tags} new tag(s), {result.boxes} box(es) into "
            f"{target.name!r}."))
