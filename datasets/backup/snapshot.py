"""A consistent snapshot of the database while the portal and workers keep writing, and what it references.

SQLite: the online backup API (``sqlite3.Connection.backup``) copies the live file in one step under a read
lock (WAL lets writers go on); the copy is then opened as a second database alias and read from there.
PostgreSQL: one REPEATABLE READ transaction; ``pg_export_snapshot()`` hands that same snapshot to ``pg_dump``
(``--snapshot``), so the native dump and the Django rows read in the transaction are the same moment.
"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from django.apps import apps
from django.core.management import call_command
from django.db import connections, models, transaction

# Rows a restore must not carry over: content types and permissions are made by `migrate` on the target (the
# rows that point at them are written with natural keys), sessions are sign-ins of the old server, heartbeats
# describe worker processes that are not there.
EXCLUDED = ("contenttypes", "auth.permission", "sessions", "training.workerheartbeat")
SNAPSHOT_ALIAS = "tagsight_backup_snapshot"

# Columns holding default_storage names that are not FileFields (FileFields are found on every model).
NAME_COLUMNS = {"predictions.StoredPrediction": ("file", "thumbnail"), "predictions.Export": ("file",)}


class SnapshotError(Exception):
    pass


@dataclass(frozen=True)
class Snapshot:
    alias: str  # the database alias to read the snapshot through
    vendor: str
    native: Path  # the engine's own copy: an SQLite file or a pg_dump custom-format file
    native_name: str  # its member name in the archive


@contextmanager
def database_snapshot(*, workdir: Path) -> Iterator[Snapshot]:
    connection = connections["default"]
    if connection.vendor == "sqlite":
        yield from _sqlite_snapshot(workdir=workdir)
    elif connection.vendor == "postgresql":
        yield from _postgresql_snapshot(workdir=workdir)
    else:
        raise SnapshotError(f"backup supports SQLite and PostgreSQL, not {connection.vendor}.")


def _sqlite_snapshot(*, workdir: Path) -> Iterator[Snapshot]:
    import sqlite3

    target = workdir / "tagsight.sqlite3"
    live = connections["default"]
    live.ensure_connection()
    with sqlite3.connect(target) as out:
        live.connection.backup(out)  # pages=-1: the whole database in one step, one consistent moment
    out.close()
    settings_dict = copy.deepcopy(connections.databases["default"])
    settings_dict.update(NAME=str(target), OPTIONS={"timeout": 20}, CONN_MAX_AGE=0)
    connections.databases[SNAPSHOT_ALIAS] = settings_dict
    try:
        yield Snapshot(alias=SNAPSHOT_ALIAS, vendor="sqlite", native=target, native_name="database/native.sqlite3")
    finally:
        connections[SNAPSHOT_ALIAS].close()
        del connections[SNAPSHOT_ALIAS]
        del connections.databases[SNAPSHOT_ALIAS]


def _postgresql_snapshot(*, workdir: Path) -> Iterator[Snapshot]:
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        raise SnapshotError("pg_dump is not installed (Debian: apt-get install postgresql-client).")
    target = workdir / "tagsight.pgdump"
    connection = connections["default"]
    with transaction.atomic(using="default"):
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            cursor.execute("SELECT pg_export_snapshot()")
            snapshot_id = cursor.fetchone()[0]
        params = connection.settings_dict
        env = {**os.environ, "PGPASSWORD": str(params.get("PASSWORD") or "")}
        command = [pg_dump, "--format=custom", f"--snapshot={snapshot_id}", f"--file={target}", "--no-owner",
                   f"--dbname={params['NAME']}"]
        for option, key in (("--username", "USER"), ("--host", "HOST"), ("--port", "PORT")):
            if params.get(key):
                command.append(f"{option}={params[key]}")
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SnapshotError(f"pg_dump failed: {done.stderr.strip()}")
        yield Snapshot(alias="default", vendor="postgresql", native=target, native_name="database/native.pgdump")


def dump_rows(*, snapshot: Snapshot, out: Path) -> None:
    """Django's serialized form of every row (JSON Lines, natural keys for content types and permissions; the
    datetimes to the microsecond: datasets.backup.serializer)."""
    from django.core import serializers

    from datasets.backup import serializer

    serializers.register_serializer(serializer.FORMAT, "datasets.backup.serializer")
    call_command("dumpdata", format=serializer.FORMAT, output=str(out), database=snapshot.alias, exclude=list(EXCLUDED),
                 natural_foreign=True, use_base_manager=True, verbosity=0)


def restorable_models() -> list[type[models.Model]]:
    """The models whose rows a backup carries (and that must be empty before a restore)."""
    excluded = {e.lower() for e in EXCLUDED}
    return [m for m in apps.get_models()
            if m._meta.app_label not in excluded and m._meta.label_lower not in excluded]


def row_counts(*, using: str) -> dict[str, int]:
    return {m._meta.label_lower: m._base_manager.using(using).count() for m in restorable_models()}


def referenced_files(*, snapshot: Snapshot) -> tuple[set[str], set[str]]:
    """(stored file names, folder prefixes) the snapshot's rows point at: every FileField, the NAME_COLUMNS, and
    each iteration's model (a file, or a folder of files)."""
    names: set[str] = set()
    for model in apps.get_models():
        columns = [f.name for f in model._meta.concrete_fields if isinstance(f, models.FileField)]
        columns += NAME_COLUMNS.get(model._meta.label, ())
        for column in columns:
            rows = model._base_manager.using(snapshot.alias).exclude(**{column: ""}).values_list(column, flat=True)
            names.update(str(name) for name in rows.iterator() if name)
    from training.models import Iteration

    prefixes: set[str] = set()
    artifacts = Iteration.objects.using(snapshot.alias).exclude(artifact_path="").values_list(
        "artifact_path", "artifact_kind")
    for path, kind in artifacts.iterator():
        (prefixes if kind == "dir" else names).add(path)
    return names, prefixes
