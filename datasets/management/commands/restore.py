"""manage.py restore IN: bring a backup back into an empty installation (either profile)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from datasets.backup.services import BackupError, backup_restore


class Command(BaseCommand):
    help = "Restore a backup made by `manage.py backup` into this installation, which must hold no data."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("archive", type=Path, help="the backup archive (.zip)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            done = backup_restore(archive=options["archive"])
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"Restored {done.rows} rows and {done.files} stored files from {options['archive']} "
            f"in {done.seconds:.1f} s."
        )
