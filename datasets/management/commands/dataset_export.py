"""`manage.py dataset_export --project ID --format coco|yolo|voc|csv|folders OUT.zip [--tag ID ...]
[--iteration ID --split train|validation]`: write the project's images (all, those with the tags, or one
iteration's training or validation split) as a dataset zip."""

from __future__ import annotations

import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from datasets.formats.cli import iteration_by_id, project_by_id
from datasets.formats.registry import FORMATS
from datasets.formats.services import SPLITS, DatasetError, export_dataset, export_write


class Command(BaseCommand):
    help = "Export a project's images, tags and boxes as a dataset zip."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("out", help="the zip to write")
        parser.add_argument("--project", required=True, help="the project's id")
        parser.add_argument("--format", required=True, choices=list(FORMATS))
        parser.add_argument("--tag", action="append", default=[], help="a tag id (repeat): images with any of them")
        parser.add_argument("--iteration", help="an iteration's id: export its training or validation split")
        parser.add_argument("--split", choices=SPLITS, help="with --iteration: train or validation")

    def handle(self, *args: Any, out: str, project: str, format: str, tag: list[str],  # noqa: A002
               iteration: str | None, split: str | None, **options: Any) -> None:
        source = project_by_id(project)
        if bool(iteration) != bool(split):
            raise CommandError("--iteration and --split go together.")
        found = iteration_by_id(source, iteration) if iteration else None
        partial = f"{out}.partial"
        try:
            dataset = export_dataset(project=source, tag_ids=tag, iteration=found, split=split or "")
            with open(partial, "wb") as handle:
                export_write(dataset=dataset, format=format, out=handle)
            os.replace(partial, out)
        except DatasetError as exc:
            raise CommandError(str(exc)) from exc
        except OSError as exc:
            raise CommandError(f"Cannot write {out}: {exc.strerror}.") from exc
        finally:
            if os.path.exists(partial):
                os.remove(partial)
        boxes = sum(len(i.boxes) for i in dataset.items)
        self.stdout.write(self.style.SUCCESS(f"Wrote {len(dataset.items)} image(s)"
                                             + (f", {boxes} box(es)" if dataset.detection else "") + f" to {out}."))
