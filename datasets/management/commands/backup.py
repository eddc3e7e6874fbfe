"""manage.py backup OUT: a consistent archive of the whole installation, taken while the portal and workers run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from datasets.backup.services import BackupError, backup_create
from datasets.backup.snapshot import SnapshotError


class Command(BaseCommand):
    help = "Write a backup (database, images, models, exports, users, keys) to OUT, a new .zip file."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("out", type=Path, help="the archive to write (must not exist yet)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            done = backup_create(out=options["out"])
        except (BackupError, SnapshotError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"Backed up {done.rows} rows and {done.files} stored files to {options['out']} "
            f"({done.bytes / 1e6:.1f} MB) in {done.seconds:.1f} s."
        )
