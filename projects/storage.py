"""Stored-file plumbing every app shares: is media local, walk a folder, delete files, serve one file."""

from __future__ import annotations

import inspect
import logging
import os
import shutil
from collections.abc import Iterable, Iterator

from django.core.files.storage import FileSystemStorage, default_storage
from django.http import FileResponse, Http404, HttpResponse, HttpResponseRedirect

logger = logging.getLogger(__name__)

# An image's or prediction's bytes never change once stored, so browsers may keep them.
CACHE_IMMUTABLE = "private, max-age=31536000, immutable"


def storage_is_local() -> bool:
    """True when media lies on this disk (FileSystemStorage), False for S3 and other remote storages.

    Asked by type, not by ``path()``: InMemoryStorage answers ``path()`` with a name that is on no disk.
    """
    return isinstance(default_storage, FileSystemStorage)


def storage_walk(prefix: str) -> Iterator[str]:
    """Every file under ``prefix`` (recursively), as a path relative to ``prefix`` with "/" separators."""
    stack = [""]
    while stack:
        rel = stack.pop()
        dirs, files = default_storage.listdir(f"{prefix}/{rel}".rstrip("/"))
        stack.extend(f"{rel}{d}/" for d in dirs)
        yield from (f"{rel}{f}" for f in files)


def storage_delete(names: Iterable[str]) -> None:
    """Delete stored files, best effort (a failure is logged, the rest still go); on disk drop emptied folders."""
    folders = set()
    for name in names:
        try:
            default_storage.delete(name)
            folders.add(name.rpartition("/")[0])
        except Exception:  # best effort: report, keep deleting the rest
            logger.exception("could not delete %s", name)
    if storage_is_local():  # S3 has no folders; on disk, drop the emptied ones
        for folder in folders:
            try:
                os.rmdir(default_storage.path(folder))
            except OSError:
                pass


def storage_delete_tree(prefix: str) -> None:
    """Delete everything under ``prefix``; never raises (a leftover file must not undo a committed deletion)."""
    try:
        if storage_is_local():
            shutil.rmtree(default_storage.path(prefix), ignore_errors=True)
            return
        for rel in list(storage_walk(prefix)):
            default_storage.delete(f"{prefix}/{rel}")
    except Exception:
        logger.exception("could not delete media under %s", prefix)


def stored_file_response(
    name: str,
    *,
    content_type: str,
    cache_control: str | None = CACHE_IMMUTABLE,
    filename: str = "",
    attachment: bool = False,
) -> HttpResponse | FileResponse:
    """Stream a stored file from local disk, or redirect to the storage's (presigned) URL. Missing: Http404.

    ``filename`` names the file in Content-Disposition (``inline``, or ``attachment`` when ``attachment``).
    """
    if not storage_is_local():
        if filename and "parameters" in inspect.signature(default_storage.url).parameters:  # S3: the URL names it
            kind = "attachment" if attachment else "inline"
            disposition = {"ResponseContentDisposition": f'{kind}; filename="{filename}"'}
            return HttpResponseRedirect(default_storage.url(name, parameters=disposition))  # type: ignore[call-arg]
        return HttpResponseRedirect(default_storage.url(name))
    try:
        handle = default_storage.open(name, "rb")
    except FileNotFoundError as exc:
        raise Http404("The file is missing.") from exc
    response = FileResponse(handle, content_type=content_type, as_attachment=attachment, filename=filename)
    if cache_control:
        response["Cache-Control"] = cache_control
    return response
