"""Artifact storage I/O: where an iteration's files live, storing and deleting them, a local copy for predicting."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from projects.storage import storage_delete_tree, storage_walk
from training import errors
from training.models import Iteration

logger = logging.getLogger(__name__)


def iteration_storage_prefix(*, iteration: Iteration) -> str:
    """Where an iteration's files live in storage: under its project's folder, so deleting the project
    (projects.services.project_delete removes ``projects/<id>/``) removes its models and exports too."""
    return f"projects/{iteration.project_id}/iterations/{iteration.id}"


def artifact_store(*, iteration: Iteration, artifact: Path) -> tuple[str, str]:
    """Copy the engine's artifact (a file or a folder) into default_storage; return (name or prefix, kind)."""
    base = iteration_storage_prefix(iteration=iteration)
    if artifact.is_dir():
        for path in sorted(artifact.rglob("*")):
            if path.is_file():
                default_storage.save(f"{base}/artifact/{path.relative_to(artifact).as_posix()}",
                                     ContentFile(path.read_bytes()))
        return f"{base}/artifact", "dir"
    return default_storage.save(f"{base}/{artifact.name}", ContentFile(artifact.read_bytes())), "file"


def artifact_delete(*, path: str, kind: str) -> None:
    if not path:
        return
    try:
        if kind == "dir":
            storage_delete_tree(path)
        elif default_storage.exists(path):
            default_storage.delete(path)
    except OSError:
        logger.exception("could not delete artifact %s", path)


def iteration_artifact_local(*, iteration: Iteration) -> Path:
    """A local path to the iteration's model (downloaded once from storage into DATA_DIR/cache/artifacts)."""
    if iteration.status != Iteration.Status.COMPLETED or not iteration.artifact_path:
        raise errors.IterationNotCompleted(f"{iteration.name} has no trained model.")
    root = Path(settings.DATA_DIR) / "cache" / "artifacts" / str(iteration.id)
    if iteration.artifact_kind == "dir":
        target = root / "artifact"
        if not target.exists():
            tmp = Path(tempfile.mkdtemp(dir=root.parent if root.parent.exists() else _mk(root.parent)))
            storage_download_tree(iteration.artifact_path, tmp)
            root.mkdir(parents=True, exist_ok=True)
            try:
                os.replace(tmp, target)
            except OSError:  # another process won the race
                shutil.rmtree(tmp, ignore_errors=True)
        return target
    target = root / Path(iteration.artifact_path).name
    if not target.exists():
        root.mkdir(parents=True, exist_ok=True)
        fd, part = tempfile.mkstemp(dir=root, suffix=".part")
        with os.fdopen(fd, "wb") as out, default_storage.open(iteration.artifact_path, "rb") as src:
            shutil.copyfileobj(src, out)
        os.replace(part, target)
    return target


def _mk(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def storage_download_tree(prefix: str, target: Path) -> None:
    """Copy every stored file under ``prefix`` into the local folder ``target`` (same relative paths)."""
    target.mkdir(parents=True, exist_ok=True)
    for rel in storage_walk(prefix):
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        with default_storage.open(f"{prefix}/{rel}", "rb") as src, open(target / rel, "wb") as out:
            shutil.copyfileobj(src, out)
