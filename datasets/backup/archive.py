"""The backup archive: a zip file streamed to disk, each member's SHA-256 in ``manifest.json`` (written last).

A zip (not a tar) because restore reads the manifest first without scanning the whole file (the central
directory is at the end) and because each member chooses its compression: the database text compresses, the
images (already JPEG/PNG) are stored as they are. Members are written and read in 1 MiB chunks, so an archive of
any size never sits in memory. Python's ``zipfile`` does the format (ZIP64 for archives over 4 GiB).
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import IO, Any

FORMAT = "tagsight-backup"
VERSION = 1
MANIFEST = "manifest.json"
DATA = "database/data.jsonl"  # Django serialized rows: what restore loads, on any database
MEDIA = "media/"  # + the default_storage name of each stored file
CHUNK = 1 << 20


class ArchiveError(Exception):
    """The file is not a Tagsight backup, or it is damaged: restore must not touch anything."""


class ArchiveWriter:
    """Add members one by one (hashing as they stream); ``close(manifest)`` writes the manifest last."""

    def __init__(self, path: Path, *, created: datetime) -> None:
        self._zip = zipfile.ZipFile(path, "w", allowZip64=True)
        self._date_time = created.timetuple()[:6]
        self.members: dict[str, dict[str, Any]] = {}

    def add(self, name: str, source: IO[bytes], *, compress: bool) -> int:
        """Stream ``source`` into the member ``name``; return its size in bytes."""
        if name in self.members:
            raise ValueError(f"{name} is already in the archive")
        info = zipfile.ZipInfo(name, date_time=self._date_time)
        info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
        digest, size = hashlib.sha256(), 0
        with self._zip.open(info, "w", force_zip64=True) as out:
            while chunk := source.read(CHUNK):
                digest.update(chunk)
                out.write(chunk)
                size += len(chunk)
        self.members[name] = {"sha256": digest.hexdigest(), "size": size}
        return size

    def close(self, manifest: dict[str, Any]) -> None:
        body = json.dumps({**manifest, "members": self.members}, indent=1, sort_keys=True).encode()
        self._zip.writestr(zipfile.ZipInfo(MANIFEST, date_time=self._date_time), body, zipfile.ZIP_DEFLATED)
        self._zip.close()

    def abort(self) -> None:
        self._zip.close()


class ArchiveReader:
    """Open a backup, read its manifest, check every member against it (``verify``) before anything uses it."""

    def __init__(self, path: Path) -> None:
        if not path.is_file():
            raise ArchiveError(f"{path} does not exist or is not a file.")
        try:
            self._zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise ArchiveError(f"{path} is not a Tagsight backup (not a zip archive).") from exc
        try:
            self.manifest: dict[str, Any] = json.loads(self._zip.read(MANIFEST))
        except KeyError as exc:
            self._zip.close()
            raise ArchiveError(f"{path} is not a Tagsight backup (no {MANIFEST}).") from exc
        except (zipfile.BadZipFile, ValueError, OSError) as exc:
            self._zip.close()
            raise ArchiveError(f"{path} is damaged: its {MANIFEST} cannot be read ({exc}).") from exc
        if not isinstance(self.manifest, dict) or self.manifest.get("format") != FORMAT:
            self._zip.close()
            raise ArchiveError(f"{path} is not a Tagsight backup (its manifest names no {FORMAT!r} format).")
        if self.manifest.get("version") != VERSION:
            self._zip.close()
            raise ArchiveError(
                f"{path} is a version {self.manifest.get('version')} backup; this Tagsight reads version {VERSION}."
            )
        self.path = path

    @property
    def members(self) -> dict[str, dict[str, Any]]:
        members = self.manifest.get("members")
        return members if isinstance(members, dict) else {}

    def media_names(self) -> Iterator[str]:
        """The default_storage names of the stored files, in archive order."""
        for name in self.members:
            if name.startswith(MEDIA):
                yield name[len(MEDIA):]

    def verify(self) -> None:
        """Every member is listed, every listed member is there with its size and SHA-256; names are safe."""
        listed = set(self.members)
        present = {info.filename for info in self._zip.infolist()} - {MANIFEST}
        if listed != present:
            extra, missing = sorted(present - listed)[:5], sorted(listed - present)[:5]
            raise ArchiveError(
                f"{self.path} is damaged: members do not match its manifest (missing {missing}, unlisted {extra})."
            )
        if DATA not in listed:
            raise ArchiveError(f"{self.path} is damaged: it has no {DATA}.")
        for name, expected in self.members.items():
            _check_name(name)
            digest, size = hashlib.sha256(), 0
            try:
                with self._zip.open(name) as src:
                    while chunk := src.read(CHUNK):
                        digest.update(chunk)
                        size += len(chunk)
            except (zipfile.BadZipFile, OSError, EOFError) as exc:
                raise ArchiveError(f"{self.path} is damaged: {name} cannot be read ({exc}).") from exc
            if size != expected.get("size") or digest.hexdigest() != expected.get("sha256"):
                raise ArchiveError(f"{self.path} is damaged: {name} does not match its SHA-256 in the manifest.")

    def open(self, name: str) -> IO[bytes]:
        return self._zip.open(name)

    def close(self) -> None:
        self._zip.close()


def _check_name(name: str) -> None:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or "\\" in name or not name.strip("/"):
        raise ArchiveError(f"unsafe member name in the archive: {name!r}")
