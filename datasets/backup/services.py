"""Backup and restore of a whole installation: database, stored files (images, models, exports), users, keys.

``backup_create`` takes the database snapshot first, then copies every stored file the snapshot's rows
reference (uploads write their files before they commit the row, so each such file is already there; a file
written after the snapshot is referenced by no row in it and is left out). ``backup_restore`` checks the whole
archive before it touches anything, refuses an installation that holds data, writes the files, then loads the
rows in one transaction (datasets.backup.rows: loaddata's way, in batches; PostgreSQL sequences reset).
The rows travel as Django serialized data, so a backup of either profile restores into either profile.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.core.files import File
from django.core.files.storage import default_storage, storages
from django.core.management import call_command
from django.db import connections
from django.db.migrations.loader import MigrationLoader
from django.utils import timezone

from datasets.backup import snapshot as snap
from datasets.backup.archive import DATA, FORMAT, MEDIA, VERSION, ArchiveError, ArchiveReader, ArchiveWriter
from datasets.backup.rows import rows_load
from projects.storage import storage_delete, storage_walk


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says why and what to do."""


@dataclass(frozen=True)
class Summary:
    rows: int
    files: int
    bytes: int
    seconds: float


def backup_create(*, out: Path) -> Summary:
    """Write a backup of this installation to ``out`` (a new file; written beside it, renamed when complete)."""
    started = time.monotonic()
    out = out.resolve()
    if out.exists():
        raise BackupError(f"{out} already exists; give a new file name.")
    if not out.parent.is_dir():
        raise BackupError(f"{out.parent} is not a folder.")
    created = timezone.now()
    part = out.with_name(f".{out.name}.part")
    with tempfile.TemporaryDirectory(prefix="tagsight-backup-", dir=out.parent) as tmp:
        workdir = Path(tmp)
        writer = ArchiveWriter(part, created=created)
        try:
            with snap.database_snapshot(workdir=workdir) as snapshot:
                rows = workdir / "data.jsonl"
                snap.dump_rows(snapshot=snapshot, out=rows)
                counts = snap.row_counts(using=snapshot.alias)
                names, prefixes = snap.referenced_files(snapshot=snapshot)
                vendor, migrations = snapshot.vendor, _applied_migrations(using=snapshot.alias)
                native, native_name = snapshot.native, snapshot.native_name
            with open(rows, "rb") as handle:
                writer.add(DATA, handle, compress=True)
            with open(native, "rb") as handle:
                writer.add(native_name, handle, compress=True)
            files = _copy_files(writer=writer, names=names, prefixes=prefixes)
            writer.close({
                "format": FORMAT, "version": VERSION, "created": created.isoformat(),
                "profile": {"database": vendor, "storage": type(storages["default"]).__name__},
                "migrations": migrations, "counts": {"rows": counts, "files": files},
            })
        except BaseException:
            writer.abort()
            part.unlink(missing_ok=True)
            raise
    os.replace(part, out)
    size = out.stat().st_size
    return Summary(rows=sum(counts.values()), files=files, bytes=size, seconds=time.monotonic() - started)


def _copy_files(*, writer: ArchiveWriter, names: set[str], prefixes: set[str]) -> int:
    """Stream each referenced stored file into the archive; any that cannot be read makes the backup fail."""
    missing: list[str] = []
    wanted = set(names)
    for prefix in sorted(prefixes):
        found = [f"{prefix}/{rel}" for rel in storage_walk(prefix)]
        wanted.update(found)
        if not found:
            missing.append(f"{prefix}/ (empty)")
    for name in sorted(wanted):
        try:
            with default_storage.open(name, "rb") as handle:
                writer.add(MEDIA + name, handle, compress=False)
        except Exception as exc:  # noqa: BLE001 - gathered and reported together below
            missing.append(f"{name} ({type(exc).__name__})")
    if missing:
        raise BackupError(
            f"{len(missing)} stored file(s) that the database references could not be read, so this backup would "
            f"be incomplete (deleted while the backup ran? run it again): {', '.join(missing[:10])}"
        )
    return len(wanted)


def _applied_migrations(*, using: str) -> dict[str, list[str]]:
    applied: dict[str, list[str]] = {}
    for app, name in sorted(MigrationLoader(connections[using], ignore_no_migrations=True).applied_migrations):
        applied.setdefault(app, []).append(name)
    return applied


def backup_restore(*, archive: Path) -> Summary:
    """Restore a backup into this installation, which must hold no data; nothing is changed if anything fails."""
    started = time.monotonic()
    try:
        reader = ArchiveReader(archive)
    except ArchiveError as exc:
        raise BackupError(str(exc)) from exc
    try:
        try:
            reader.verify()
        except ArchiveError as exc:
            raise BackupError(f"{exc} Nothing was restored.") from exc
        _check_migrations(manifest=reader.manifest)
        _check_empty(media=list(reader.media_names()))
        call_command("migrate", interactive=False, verbosity=0)
        _check_empty(media=())  # migrate makes schema, content types, permissions: never rows a backup carries
        written = _write_files(reader=reader)
        try:
            with tempfile.TemporaryDirectory(prefix="tagsight-restore-") as tmp:
                rows = Path(tmp) / "data.jsonl"
                with reader.open(DATA) as src, open(rows, "wb") as out:
                    shutil.copyfileobj(src, out, 1 << 20)
                total = rows_load(path=rows)  # one transaction
        except BaseException:
            storage_delete(written)
            raise
        size = archive.stat().st_size
    finally:
        reader.close()
    return Summary(rows=total, files=len(written), bytes=size, seconds=time.monotonic() - started)


def _check_migrations(*, manifest: dict[str, Any]) -> None:
    known = set(MigrationLoader(None, ignore_no_migrations=True).disk_migrations)
    unknown = [f"{app}.{name}" for app, names in manifest.get("migrations", {}).items() for name in names
               if (app, name) not in known]
    if unknown:
        raise BackupError(
            f"this backup was made by a newer Tagsight (it has migrations this one lacks: {', '.join(unknown[:5])}); "
            "upgrade Tagsight, then restore. Nothing was restored."
        )


def _check_empty(*, media: Iterable[str]) -> None:
    """Refuse an installation holding any row a backup carries, or any stored file under the archive's folders."""
    connection = connections["default"]
    tables = set(connection.introspection.table_names())
    held = {}
    for model in snap.restorable_models():
        if model._meta.db_table in tables:
            count = model._base_manager.using("default").count()
            if count:
                held[model._meta.label_lower] = count
    if held:
        listed = ", ".join(f"{n} {label}" for label, n in sorted(held.items()))
        raise BackupError(
            f"this installation is not empty ({listed}): restore only into an empty one (a fresh "
            "TAGSIGHT_DATA_DIR, or an empty database and storage bucket). Nothing was restored."
        )
    for folder in sorted({name.split("/", 1)[0] for name in media}):
        try:
            stored = next(iter(storage_walk(folder)), None)
        except FileNotFoundError:
            stored = None
        if stored is not None:
            raise BackupError(
                f"the storage already holds files under {folder}/ (e.g. {folder}/{stored}): restore only into an "
                "empty installation. Nothing was restored."
            )


def _write_files(*, reader: ArchiveReader) -> list[str]:
    """Write every stored file under its own name; on any failure delete what was written and re-raise."""
    written: list[str] = []
    try:
        for name in reader.media_names():
            with reader.open(MEDIA + name) as src:
                saved = default_storage.save(name, File(src, name=name))
            written.append(saved)
            if saved != name:
                raise BackupError(f"the storage saved {name} as {saved}: it is not empty. Nothing was restored.")
    except BaseException:
        storage_delete(written)
        raise
    return written
