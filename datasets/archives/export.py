"""Writing a project archive as a stream of zip bytes: one member in memory at a time, whatever the project's size.

The zip is written to a sink that the generator drains after every chunk, so a 10,000-image project streams to the
browser (or a file) with constant memory and no copy in storage; zipfile writes data descriptors when it cannot
seek, and ZIP64 sizes so that no member or archive is too large.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import zipfile
from collections import defaultdict
from collections.abc import Generator, Iterator
from datetime import datetime
from typing import IO, Any

from django.core.files.storage import default_storage
from django.utils import timezone

from datasets.archives.format import FORMAT, MANIFEST, PROJECT, VERSION, image_member, iteration_member
from labeling.models import Region
from projects.models import Image, Project, Tag
from projects.storage import storage_walk
from training.models import Iteration
from training.services.queue import code_version

logger = logging.getLogger(__name__)

CHUNK = 1 << 20
# Iteration fields carried as they are (ids, users, workers, publishing and storage paths are not).
ITERATION_FIELDS = (
    "number", "name", "status", "training_type", "budget_minutes", "progress", "stage", "error", "error_code",
    "domain_id", "backbone", "project_type", "classification_type", "snapshot", "fingerprint", "image_count",
    "code_version", "metrics", "artifact_kind",
)


class _Sink(io.RawIOBase):
    """A write-only stream that keeps what was written until ``drain``: zipfile writes, the generator yields."""

    def __init__(self) -> None:
        super().__init__()
        self._chunks: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._chunks.append(bytes(data))
        return len(data)

    def drain(self) -> bytes:
        out = b"".join(self._chunks)
        self._chunks.clear()
        return out


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _images_record(*, project: Project, files: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """Each image with its tags, regions, metadata and created date; its stored original joins ``files``."""
    image_tags: dict[Any, list[str]] = defaultdict(list)
    for image_id, tag_id in Image.tags.through.objects.filter(image__project=project).values_list("image_id", "tag_id"):
        image_tags[image_id].append(str(tag_id))
    regions: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for r in Region.objects.filter(image__project=project).order_by("created", "id"):
        regions[r.image_id].append({"tag": str(r.tag_id), "left": r.left, "top": r.top, "width": r.width,
                                    "height": r.height, "created": _iso(r.created)})
    images = []
    for image in Image.objects.filter(project=project).order_by("created", "id"):
        extension = image.file.name.rpartition(".")[2].lower() or "jpg"
        member = image_member(image_id=str(image.id), extension=extension)
        files.append((member, image.file.name))
        images.append({
            "id": str(image.id), "member": member, "original_name": image.original_name,
            "content_type": image.content_type, "width": image.width, "height": image.height, "sha256": image.sha256,
            "metadata": image.metadata, "created": _iso(image.created), "tags": sorted(image_tags[image.id]),
            "regions": regions[image.id],
        })
    return images


def _iterations_record(*, project: Project, files: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """Each finished iteration's row (less ids, users, workers and publishing); its model files join ``files``."""
    iterations = []
    done = Iteration.objects.filter(project=project).exclude(status=Iteration.Status.TRAINING)
    for it in done.order_by("number"):
        record = {f: getattr(it, f) for f in ITERATION_FIELDS}
        record.update(id=str(it.id), domain_id=str(it.domain_id), created=_iso(it.created), started=_iso(it.started),
                      finished=_iso(it.finished), was_published=it.is_published, artifact=[])
        if it.status == Iteration.Status.COMPLETED and it.artifact_path:
            if it.artifact_kind == "dir":
                sources = {f"artifact/{rel}": f"{it.artifact_path}/{rel}" for rel in storage_walk(it.artifact_path)}
            else:
                sources = {it.artifact_path.rpartition("/")[2]: it.artifact_path}
            for rel in sorted(sources):
                files.append((iteration_member(iteration_id=str(it.id), rel=rel), sources[rel]))
                record["artifact"].append(rel)
        iterations.append(record)
    return iterations


def _project_record(*, project: Project, include_iterations: bool) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """project.json's content, and the (member, storage name) pairs of the files to carry."""
    files: list[tuple[str, str]] = []
    tags = [{"id": str(t.id), "name": t.name, "description": t.description, "type": t.type,
             "created": _iso(t.created)} for t in Tag.objects.filter(project=project).order_by("created", "id")]
    content = {
        "project": {"name": project.name, "description": project.description, "project_type": project.project_type,
                    "classification_type": project.classification_type, "domain_id": str(project.domain_id),
                    "max_detections": project.max_detections, "created": _iso(project.created)},
        "tags": tags,
        "images": _images_record(project=project, files=files),
        "iterations": _iterations_record(project=project, files=files) if include_iterations else [],
    }
    return content, files


def _write(zf: zipfile.ZipFile, sink: _Sink, name: str, src: IO[bytes], *, compress: bool,
           when: tuple[int, ...]) -> Generator[bytes, None, str]:
    """Write one member from ``src`` in chunks; yields zip bytes, returns the member's SHA-256."""
    info = zipfile.ZipInfo(name, date_time=when[:6])  # type: ignore[arg-type]
    info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    digest = hashlib.sha256()
    with zf.open(info, "w", force_zip64=True) as dst:
        while chunk := src.read(CHUNK):
            digest.update(chunk)
            dst.write(chunk)
            yield sink.drain()
    yield sink.drain()
    return digest.hexdigest()


def archive_chunks(*, project: Project, include_iterations: bool) -> Iterator[bytes]:
    """The project's archive, as zip bytes in chunks (see the module's docstring)."""
    created = timezone.now()
    when = tuple(created.timetuple())
    content, files = _project_record(project=project, include_iterations=include_iterations)
    sink = _Sink()
    checksums: dict[str, str] = {}
    with zipfile.ZipFile(sink, "w", allowZip64=True) as zf:
        body = json.dumps(content, indent=1, sort_keys=True).encode()
        checksums[PROJECT] = yield from _write(zf, sink, PROJECT, io.BytesIO(body), compress=True, when=when)
        for member, name in files:
            with default_storage.open(name, "rb") as src:
                # Images are compressed already; a model's weights barely shrink, its JSON does.
                compress = not member.startswith("images/") and not name.endswith((".pt", ".pth", ".onnx"))
                checksums[member] = yield from _write(zf, sink, member, src, compress=compress, when=when)
        manifest = {
            "format": FORMAT, "version": VERSION, "server_version": code_version(), "created": created.isoformat(),
            "includes_iterations": include_iterations,
            "counts": {"tags": len(content["tags"]), "images": len(content["images"]),
                       "regions": sum(len(i["regions"]) for i in content["images"]),
                       "iterations": len(content["iterations"])},
            "members": checksums,
        }
        yield from _write(zf, sink, MANIFEST, io.BytesIO(json.dumps(manifest, indent=1).encode()), compress=True,
                          when=when)
    yield sink.drain()
    logger.info("archived project %s (%d members)", project.id, len(checksums) + 1)


def archive_filename(*, project: Project) -> str:
    """A download name for the project's archive (ASCII letters, digits, - and _ only)."""
    safe = "".join(c if c.isascii() and (c.isalnum() or c in "-_") else "-" for c in project.name).strip("-")
    return f"{safe or 'project'}-{timezone.now():%Y%m%d}.tagsight.zip"
