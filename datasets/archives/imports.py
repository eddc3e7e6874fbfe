"""Reading a project archive: check it (``archive_inspect``: counts, problems, notes) and import it as a new
project (``archive_import``), all or nothing.

Refused before anything is written: not a zip, another format or a newer version, a member missing, unexpected or
altered (SHA-256 against the manifest), an unknown domain, inconsistent content, a quota that would be passed. While
importing, the files are written first (each image verified and its renditions made as for an upload; the originals
stored byte for byte), then every row in one short transaction; any failure deletes the new project's folder, and
the rolled-back transaction leaves no row.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
import zipfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import DatabaseError, transaction

from datasets.archives.export import ITERATION_FIELDS
from datasets.archives.format import FORMAT, MANIFEST, PROJECT, VERSION, ArchiveError, safe_rel
from labeling.models import Region
from projects import errors as project_errors
from projects.domains import DOMAINS_BY_ID, OBJECT_DETECTION
from projects.images import ImageRejected, render
from projects.models import DEFAULT_MAX_DETECTIONS, MAX_DETECTIONS_LIMIT, Image, Project, Tag
from projects.services import metadata_clean, project_create
from projects.storage import storage_delete_tree
from training.models import Iteration
from training.storage import iteration_storage_prefix
from workspaces import audit

logger = logging.getLogger(__name__)

CHUNK = 1 << 20
MAX_LISTED = 10  # problems of one kind listed before "and N more"
MAX_PROJECT_JSON = 512 * 1024 * 1024  # project.json is read whole: far above 100,000 images' worth, far below a bomb


@dataclass(frozen=True)
class ArchivePreview:
    """What an archive would import, and what stands in the way (``problems``) or is worth knowing (``notes``)."""

    name: str
    project_type: str
    classification_type: str
    domain: str
    server_version: str
    created: str
    counts: dict[str, int]
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _open(source: Path | IO[bytes]) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        raise ArchiveError("This file is not a zip archive: choose a project archive (.zip) made by Tagsight.") \
            from None


def _json_member(zf: zipfile.ZipFile, name: str) -> Any:
    try:
        if zf.getinfo(name).file_size > MAX_PROJECT_JSON:  # zipfile reads no more than the declared size
            raise ArchiveError(f"The archive's {name} is too large.")
        return json.loads(zf.read(name))
    except KeyError:
        raise ArchiveError(f"This zip is not a Tagsight project archive: it has no {name}.") from None
    except (ValueError, zipfile.BadZipFile, OSError, EOFError):
        raise ArchiveError(f"The archive's {name} is damaged or not JSON.") from None


def _manifest(zf: zipfile.ZipFile) -> dict[str, Any]:
    manifest = _json_member(zf, MANIFEST)
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ArchiveError("This zip is not a Tagsight project archive (its manifest names another format).")
    version = manifest.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ArchiveError("The archive's manifest has no valid format version.")
    if version > VERSION:
        raise ArchiveError(
            f"The archive is in format version {version}, made by a newer Tagsight "
            f"({manifest.get('server_version', 'unknown')}); this server reads version {VERSION}. Update this server."
        )
    if not isinstance(manifest.get("members"), dict):
        raise ArchiveError("The archive's manifest lists no members.")
    return manifest


def _listed(kind: str, names: list[str]) -> str:
    shown = ", ".join(sorted(names)[:MAX_LISTED])
    more = f" and {len(names) - MAX_LISTED} more" if len(names) > MAX_LISTED else ""
    return f"{kind}: {shown}{more}."


def _sha256(zf: zipfile.ZipFile, name: str) -> str:
    digest = hashlib.sha256()
    with zf.open(name) as src:
        while chunk := src.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _member_problems(zf: zipfile.ZipFile, manifest: dict[str, Any]) -> list[str]:
    """Every member the manifest names is there, unaltered, and there is nothing else."""
    expected: dict[str, Any] = manifest["members"]
    present = {i.filename for i in zf.infolist() if not i.is_dir()} - {MANIFEST}
    problems = []
    missing = [n for n in expected if n not in present]
    if missing:
        problems.append(_listed("Members missing from the archive", missing))
    extra = [n for n in present if n not in expected]
    if extra:
        problems.append(_listed("Members the manifest does not list", extra))
    altered = []
    for name in sorted(set(expected) & present):
        try:
            if _sha256(zf, name) != expected[name]:
                altered.append(name)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError):  # a CRC error or a truncated member
            altered.append(name)
    if altered:
        problems.append(_listed("Members altered since the archive was made (SHA-256 differs)", altered))
    return problems


def _when(value: Any) -> datetime | None:
    if value is None:
        return None
    return datetime.fromisoformat(value)


def _region_ok(r: dict[str, Any]) -> bool:
    values = [r["left"], r["top"], r["width"], r["height"]]
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return False
    left, top, width, height = values
    return bool(0 <= left <= 1 and 0 <= top <= 1 and 0 < width <= 1 and 0 < height <= 1)


def _project_problems(project: dict[str, Any]) -> list[str]:
    problems = []
    if not str(project["name"]).strip() or len(str(project["name"])) > 200:
        problems.append("The project's name is empty or longer than 200 characters.")
    domain = DOMAINS_BY_ID.get(uuid.UUID(str(project["domain_id"])))
    is_detection = project["project_type"] == Project.ProjectType.DETECTION
    if domain is None:
        problems.append(f"Unknown domain {project['domain_id']}: this server does not offer it.")
    elif (domain.type == OBJECT_DETECTION) != is_detection or project["project_type"] not in Project.ProjectType.values:
        problems.append(f"Domain {domain.name!r} does not fit a {project['project_type']!r} project.")
    if project["classification_type"] not in Project.ClassificationType.values:
        problems.append(f"Unknown classification type {project['classification_type']!r}.")
    wanted = project.get("max_detections", DEFAULT_MAX_DETECTIONS)  # archives before the setting have none
    if isinstance(wanted, bool) or not isinstance(wanted, int) or not 1 <= wanted <= MAX_DETECTIONS_LIMIT:
        problems.append(f"Max detections {wanted!r} is not a whole number from 1 to {MAX_DETECTIONS_LIMIT}.")
    return problems


def _tag_problems(tags: list[dict[str, Any]], *, is_detection: bool) -> list[str]:
    problems = []
    names = [str(t["name"]).strip().casefold() for t in tags]
    if len({str(t["id"]) for t in tags}) != len(tags) or len(set(names)) != len(names) or not all(names):
        problems.append("Tags are repeated (by id or by name) or unnamed.")
    if any(len(n) > 200 for n in names):
        problems.append("A tag's name is longer than 200 characters.")
    bad_types = sorted({str(t["type"]) for t in tags} - set(Tag.TagType.values))
    if bad_types:
        problems.append(f"Unknown tag types: {', '.join(bad_types)}.")
    if is_detection and any(t["type"] == Tag.TagType.NEGATIVE for t in tags):
        problems.append("A detection project has no Negative tag, and this archive's has one.")
    for t in tags:
        _when(t.get("created"))
    return problems


def _image_problems(images: list[dict[str, Any]], *, tag_ids: set[str], members: dict[str, Any],
                    sizes: dict[str, int]) -> list[str]:
    """Problems counted per kind ("3 images name tags the archive lacks"), not listed image by image."""
    found: Counter[str] = Counter()
    limit = settings.TAGSIGHT_MAX_IMAGE_BYTES
    for image in images:
        _when(image.get("created"))
        if not isinstance(image["sha256"], str) or len(image["sha256"]) != 64:
            raise ValueError("an image's sha256 is not 64 hex digits")
        if not str(image["member"]).startswith("images/") or image["member"] not in members:
            found["name no file of the archive"] += 1
        elif sizes.get(image["member"], 0) > limit:  # each image is read whole when imported
            found[f"are larger than this server's limit of {limit:,} bytes"] += 1
        if not set(map(str, image["tags"])) <= tag_ids or any(str(r["tag"]) not in tag_ids for r in image["regions"]):
            found["name tags the archive lacks"] += 1
        if not all(_region_ok(r) for r in image["regions"]):
            found["have boxes outside the image"] += 1
        try:
            metadata_clean(image.get("metadata") or {}, new_image=True)
        except project_errors.ProjectsError:
            found["have invalid metadata"] += 1
    problems = [f"{n} image{'s' if n != 1 else ''} {what}." for what, n in found.items()]
    if len({str(i["id"]) for i in images}) != len(images):
        problems.append("Images are repeated (by id).")
    return problems


def _iteration_problems(iterations: list[dict[str, Any]], *, members: dict[str, Any]) -> tuple[list[str], list[str]]:
    problems, notes = [], []
    published = 0
    for it in iterations:
        if it["status"] not in Iteration.Status.values or it["status"] == Iteration.Status.TRAINING:
            problems.append(f"Iteration {it['name']!r} has an unknown or unfinished status {it['status']!r}.")
        rels = [str(r) for r in it["artifact"]]
        if not all(safe_rel(r) and f"iterations/{it['id']}/{r}" in members for r in rels):
            problems.append(f"Iteration {it['name']!r} names model files the archive lacks.")
        if it["artifact_kind"] == "file" and len(rels) != 1:
            problems.append(f"Iteration {it['name']!r} should have one model file.")
        _when(it.get("created")), _when(it.get("started")), _when(it.get("finished"))
        published += bool(it.get("was_published"))
    if len({int(it["number"]) for it in iterations}) != len(iterations):
        problems.append("Iterations are repeated (by number).")
    if published:
        notes.append(f"{published} iteration{'s were' if published != 1 else ' was'} published on the server that "
                     "made the archive. Imported iterations arrive unpublished: publishing needs a prediction key of "
                     "this workspace, so publish them again here.")
    return problems, notes


def _content_problems(content: Any, members: dict[str, Any], sizes: dict[str, int]) -> tuple[list[str], list[str]]:
    """(problems, notes) of project.json's content; raises KeyError/TypeError/ValueError when it is malformed."""
    project = content["project"]
    is_detection = project["project_type"] == Project.ProjectType.DETECTION
    tag_ids = {str(t["id"]) for t in content["tags"]}
    iteration_problems, notes = _iteration_problems(content["iterations"], members=members)
    problems = (_project_problems(project) + _tag_problems(content["tags"], is_detection=is_detection)
                + _image_problems(content["images"], tag_ids=tag_ids, members=members, sizes=sizes)
                + iteration_problems)
    return problems, notes


def _quota_problems(content: dict[str, Any], *, workspace_id: Any) -> list[str]:
    """The quotas a new project of this content would pass (projects.services checks the project limit again)."""
    problems = []
    limits = (
        (len(content["images"]), settings.TAGSIGHT_MAX_IMAGES_PER_PROJECT, "images"),
        (len(content["tags"]), settings.TAGSIGHT_MAX_TAGS_PER_PROJECT, "tags"),
        (len(content["iterations"]), settings.TAGSIGHT_MAX_ITERATIONS_PER_PROJECT, "iterations"),
    )
    for have, limit, what in limits:
        if 0 < limit < have:
            problems.append(f"The archive holds {have:,} {what}; a project here may have at most {limit:,}.")
    limit = settings.TAGSIGHT_MAX_PROJECTS_PER_WORKSPACE
    if workspace_id is not None and 0 < limit <= Project.objects.filter(workspace_id=workspace_id).count():
        problems.append(f"This workspace has reached its limit of {limit} projects. Delete or move a project first.")
    return problems


def _inspect(zf: zipfile.ZipFile, *, workspace_id: Any) -> tuple[ArchivePreview, dict[str, Any]]:
    manifest = _manifest(zf)
    problems = _member_problems(zf, manifest)
    if PROJECT not in manifest["members"] or problems:
        raise ArchiveError(problems or [f"The archive's manifest does not list {PROJECT}."])
    content = _json_member(zf, PROJECT)
    try:
        sizes = {i.filename: i.file_size for i in zf.infolist()}
        content_problems, notes = _content_problems(content, manifest["members"], sizes)
        problems += content_problems + _quota_problems(content, workspace_id=workspace_id)
        project = content["project"]
        domain = DOMAINS_BY_ID.get(uuid.UUID(str(project["domain_id"])))
        counts = {"tags": len(content["tags"]), "images": len(content["images"]),
                  "regions": sum(len(i["regions"]) for i in content["images"]),
                  "iterations": len(content["iterations"])}
        preview = ArchivePreview(
            name=str(project["name"]), project_type=str(project["project_type"]),
            classification_type=str(project["classification_type"]),
            domain=domain.name if domain else str(project["domain_id"]),
            server_version=str(manifest.get("server_version", "")), created=str(manifest.get("created", "")),
            counts=counts, problems=problems, notes=notes,
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ArchiveError(f"The archive's {PROJECT} is malformed ({type(exc).__name__}: {exc}).") from None
    return preview, content


def archive_inspect(*, source: Path | IO[bytes], workspace_id: Any = None) -> ArchivePreview:
    """Check an archive (reading every member once to verify its checksum) and say what it would import.

    Raises ArchiveError when it is no readable archive at all (not a zip, another format or version, members missing
    or altered); the preview's ``problems`` list what else would refuse it (content, quotas in ``workspace_id``).
    """
    with _open(source) as zf:
        return _inspect(zf, workspace_id=workspace_id)[0]


def _remap(value: Any, ids: dict[str, str]) -> Any:
    """``value`` with every string (and key) that is an old id replaced by the new one (snapshots, metrics)."""
    if isinstance(value, str):
        return ids.get(value, value)
    if isinstance(value, list):
        return [_remap(v, ids) for v in value]
    if isinstance(value, dict):
        return {ids.get(k, k): _remap(v, ids) for k, v in value.items()}
    return value


def _store_image(zf: zipfile.ZipFile, record: dict[str, Any], *, project_id: uuid.UUID, image_id: uuid.UUID,
                 written: list[str]) -> Image:
    """Verify one image as an upload is verified, store its original byte for byte and its renditions."""
    data = zf.read(record["member"])
    try:
        out = render(data, max_side=settings.TAGSIGHT_MAX_IMAGE_SIDE, thumbnail_size=settings.TAGSIGHT_THUMBNAIL_SIZE,
                     display_size=settings.TAGSIGHT_DISPLAY_SIZE, max_bytes=settings.TAGSIGHT_MAX_IMAGE_BYTES)
    except ImageRejected as exc:
        raise ArchiveError(f"Image {record['original_name'] or record['id']} was refused: {exc.message}") from None
    folder = f"projects/{project_id}/images/{image_id}"
    original = default_storage.save(f"{folder}/original.{out.extension}", ContentFile(data))
    written.append(original)
    display = original
    if out.display is not None:
        display = default_storage.save(f"{folder}/display.jpg", ContentFile(out.display))
    thumbnail = default_storage.save(f"{folder}/thumbnail.jpg", ContentFile(out.thumbnail))
    return Image(id=image_id, project_id=project_id, file=original, display=display, thumbnail=thumbnail,
                 original_name=str(record["original_name"])[:255], content_type=out.content_type, width=out.width,
                 height=out.height, sha256=record["sha256"], metadata=record.get("metadata") or {})


def _store_iteration(zf: zipfile.ZipFile, record: dict[str, Any], *, project_id: uuid.UUID, ids: dict[str, str],
                     files: dict[str, str]) -> Iteration:
    iteration = Iteration(id=uuid.uuid4(), project_id=project_id, **{f: record[f] for f in ITERATION_FIELDS})
    iteration.snapshot = _remap(record["snapshot"] or {}, ids)
    for item in iteration.snapshot.get("images", ()):  # the trained file is the imported image's
        item["file"] = files.get(item.get("id"), item.get("file"))
    iteration.metrics = _remap(record["metrics"], ids)
    iteration.started, iteration.finished = _when(record.get("started")), _when(record.get("finished"))
    base = iteration_storage_prefix(iteration=iteration)
    stored = []
    for rel in record["artifact"]:
        with zf.open(f"iterations/{record['id']}/{rel}") as src:
            stored.append(default_storage.save(f"{base}/{rel}", File(src, name=rel.rpartition("/")[2])))
    if stored:
        iteration.artifact_path = f"{base}/artifact" if record["artifact_kind"] == "dir" else stored[0]
    else:
        iteration.artifact_kind = ""
    return iteration


def _keep_created(model: type[Any], objs: Sequence[Any], created: Sequence[datetime | None]) -> None:
    """Put back the archive's created dates (``auto_now_add`` set them to now on insert)."""
    kept = []
    for obj, when in zip(objs, created, strict=True):
        if when is not None:
            obj.created = when
            kept.append(obj)
    model.objects.bulk_update(kept, ["created"], batch_size=500)


def archive_import(*, source: Path | IO[bytes], workspace: Any, created_by: Any = None,
                   name: str = "", project_id: uuid.UUID | None = None) -> tuple[Project, ArchivePreview]:
    """Import an archive as a new project of ``workspace`` (named ``name``, else as in the archive; with the id
    ``project_id``, else a new one); returns it with the archive's preview (its notes are worth showing).

    Raises ArchiveError (nothing written) when the archive is refused; projects' errors when a service refuses."""
    workspace_id = getattr(workspace, "pk", workspace)
    with _open(source) as zf:
        preview, content = _inspect(zf, workspace_id=workspace_id)
        if preview.problems:
            raise ArchiveError(preview.problems)
        project_id = project_id or uuid.uuid4()
        try:
            project = _write(zf, content, project_id=project_id, workspace_id=workspace_id, created_by=created_by,
                             name=name or preview.name)
        except DatabaseError as exc:  # a value this database refuses (a crafted archive): rolled back, files go
            storage_delete_tree(f"projects/{project_id}")
            logger.warning("an archive's rows were refused by the database: %s", exc)
            raise ArchiveError("The archive holds values this server's database refuses; nothing was imported.") \
                from exc
        except BaseException:
            storage_delete_tree(f"projects/{project_id}")
            raise
    logger.info("imported an archive as project %s (%s images)", project.id, preview.counts["images"])
    return project, preview


def _write(zf: zipfile.ZipFile, content: dict[str, Any], *, project_id: uuid.UUID, workspace_id: Any,
           created_by: Any, name: str) -> Project:
    """Files first (outside any transaction, so a big import never holds the database), then every row at once."""
    ids: dict[str, str] = {t["id"]: str(uuid.uuid4()) for t in content["tags"]}
    tags = [Tag(id=uuid.UUID(ids[t["id"]]), project_id=project_id, name=str(t["name"]).strip(),
                description=t.get("description") or "", type=t["type"]) for t in content["tags"]]
    images, files, written = [], {}, []  # type: ignore[var-annotated]
    for record in content["images"]:
        image_id = uuid.uuid4()
        ids[record["id"]] = str(image_id)
        images.append(_store_image(zf, record, project_id=project_id, image_id=image_id, written=written))
        files[str(image_id)] = images[-1].file.name
    iterations = [_store_iteration(zf, r, project_id=project_id, ids=ids, files=files) for r in content["iterations"]]
    image_tags = [Image.tags.through(image_id=uuid.UUID(ids[i["id"]]), tag_id=uuid.UUID(ids[str(t)]))
                  for i in content["images"] for t in sorted(set(map(str, i["tags"])))]
    regions = [(Region(image_id=uuid.UUID(ids[i["id"]]), tag_id=uuid.UUID(ids[str(r["tag"])]), left=r["left"],
                       top=r["top"], width=r["width"], height=r["height"]), _when(r.get("created")))
               for i in content["images"] for r in i["regions"]]
    project = content["project"]
    with transaction.atomic():
        created = project_create(
            id=project_id, workspace=workspace_id, created_by=created_by, name=name,
            description=project.get("description") or "", project_type=project["project_type"],
            classification_type=project["classification_type"], domain_id=project["domain_id"],
            max_detections=project.get("max_detections"),
        )
        Tag.objects.bulk_create(tags)
        _keep_created(Tag, tags, [_when(t.get("created")) for t in content["tags"]])
        Image.objects.bulk_create(images, batch_size=500)
        _keep_created(Image, images, [_when(i.get("created")) for i in content["images"]])
        Image.tags.through.objects.bulk_create(image_tags, batch_size=1000)
        Region.objects.bulk_create([r for r, _ in regions], batch_size=1000)
        _keep_created(Region, [r for r, _ in regions], [w for _, w in regions])
        Iteration.objects.bulk_create(iterations)
        _keep_created(Iteration, iterations, [_when(i.get("created")) for i in content["iterations"]])
        audit.record(workspace_id=workspace_id, action="project.import", project=created,
                     images=len(images), iterations=len(iterations))
    return created
