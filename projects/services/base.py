"""Helpers shared by the services: name cleaning, id parsing, deleting stored files."""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterable
from typing import Any
from uuid import UUID

from django.core.files.storage import FileSystemStorage, default_storage

from projects import errors
from projects.models import Tag

logger = logging.getLogger(__name__)


def clean_name(name: str, error: type[errors.ProjectsError], what: str) -> str:
    name = (name or "").strip()
    if not name:
        raise error(f"The {what} name is required.")
    if len(name) > 200:
        raise error(f"The {what} name is longer than 200 characters.")
    return name


def as_uuid(value: Any) -> UUID:
    if isinstance(value, Tag):
        return value.id
    return value if isinstance(value, UUID) else UUID(str(value))


def storage_delete(names: Iterable[str]) -> None:
    folders = set()
    for name in names:
        try:
            default_storage.delete(name)
            folders.add(name.rpartition("/")[0])
        except Exception:  # best effort: report, keep deleting the rest
            logger.exception("could not delete %s", name)
    if isinstance(default_storage, FileSystemStorage):  # S3 has no folders; on disk, drop the emptied ones
        for folder in folders:
            try:
                os.rmdir(default_storage.path(folder))
            except OSError:
                pass



def storage_delete_tree(prefix: str) -> None:
    storage = default_storage
    try:
        if isinstance(storage, FileSystemStorage):
            shutil.rmtree(storage.path(prefix), ignore_errors=True)
            return
        stack = [prefix]
        while stack:
            folder = stack.pop()
            dirs, files = storage.listdir(folder)
            stack.extend(f"{folder}/{d}" for d in dirs)
            for name in files:
                storage.delete(f"{folder}/{name}")
    except Exception:  # a leftover file must not turn a committed deletion into an error page
        logger.exception("could not delete media under %s", prefix)
