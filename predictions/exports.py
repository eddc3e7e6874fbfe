"""Export services: an iteration's model as a zip for offline use, built once in the background.

Platforms (Azure's names): ONNX (flavors below; compact domains also get model_int8.onnx),
OpenVino (training.ml.export_openvino), DockerFile Linux/ARM (training.ml.export_docker), TensorFlow
TensorFlowNormal/TensorFlowLite (training.ml.export_tf: a SavedModel or a .tflite, converted and run in a child
process) and CoreML (training.ml.export_coreml: converted and its spec validated here, run only on Apple
platforms); which ones an iteration may use is its domain's (projects.domains). Others (VAIDK) are refused.

``export_request`` is what the page (and the API) call: it returns the existing export when there is one
(Done: download it; Exporting: one build is already in flight) and queues a build only for a new or a Failed
export; it is also the one place an unsupported platform or flavor is refused (the API only translates the
error). ``export_build`` is what the Celery task runs: ``training.ml.export_onnx`` (model.onnx with the
preprocessing inside, labels.txt, metadata.json, a standalone predict.py, parity.json on the iteration's
validation images) zipped into default_storage.

Flavors (Azure's ExportFlavor) are the ONNX opset of model.onnx: none is opset 18 (what training produces),
``ONNX10`` and ``ONNX12`` are the same graph built from opset-10 / opset-12 operators for older runtimes.
Each flavor is its own Export.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import zipfile
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils import timezone

from predictions.models import Export
from projects.domains import EXPORT_FLAVORS, domain_of
from projects.models import MAX_DETECTIONS_LIMIT, Image
from projects.storage import storage_delete
from training import events
from training.errors import IterationNotCompleted, TrainingError
from training.models import Iteration
from workspaces import audit

logger = logging.getLogger(__name__)

AZURE_PLATFORMS = ("CoreML", "TensorFlow", "DockerFile", "ONNX", "VAIDK", "OpenVino")  # Azure's ExportPlatform
STALE_SECONDS = 30 * 60  # an export still "Exporting" after this long lost its worker: queue it again
# ONNX flavor -> opset of model.onnx ("" = no flavor: the graph as trained).
ONNX_OPSETS = {"": 18, "ONNX10": 10, "ONNX12": 12}


class ExportError(TrainingError):
    code = "BadRequestExportValidationFailed"


class ExportPlatformUnsupported(ExportError):
    code = "BadRequestProjectUnsupportedExportPlatform"


def export_request(*, iteration: Iteration, platform: str = "ONNX", flavor: str = "") -> Export:
    """The iteration's export for this platform and flavor: reused when Done or in flight, (re)queued when new
    or Failed, or when a detector's was built for other max detections than the project's now (its zip is
    replaced once the new one is built). Platform and flavor are matched without regard to case and stored as
    Azure spells them."""
    platform, flavor = export_option(iteration=iteration, platform=platform, flavor=flavor)
    if iteration.status != Iteration.Status.COMPLETED or not iteration.artifact_path:
        raise IterationNotCompleted(f"{iteration.name} is not trained; only a completed iteration can be exported.")
    with transaction.atomic():
        export = _export_queue(iteration=iteration, platform=platform, flavor=flavor)
        # Every request is written, a reused export's too: who took the model away matters, not only who built it.
        project = iteration.project
        audit.record(workspace_id=project.workspace_id, action="iteration.export", project=project,
                     iteration=iteration.name, platform=platform, flavor=flavor)
    return export


def export_options(*, iteration: Iteration) -> list[tuple[str, str]]:
    """(platform, flavor) pairs the iteration's domain exports, in the order the portal offers them."""
    domain = domain_of(iteration.domain_id)
    if domain is None:
        return []
    return [(p, f) for p in domain.export_platforms for f in domain.export_flavors(p)]


def export_option(*, iteration: Iteration, platform: str, flavor: str) -> tuple[str, str]:
    """(platform, flavor) as Azure spells them, or ExportPlatformUnsupported saying why not."""
    platform = platform or "ONNX"
    matched = next((p for p in AZURE_PLATFORMS if p.lower() == platform.lower()), None)
    built = ", ".join(EXPORT_FLAVORS)
    if matched is None:
        raise ExportPlatformUnsupported(
            f"Export platform {platform!r} is not one of Azure's ({', '.join(AZURE_PLATFORMS)}); "
            f"Tagsight builds {built}."
        )
    if matched not in EXPORT_FLAVORS:
        raise ExportPlatformUnsupported(f"Export platform {matched} is not supported by Tagsight; it builds {built}.")
    domain = domain_of(iteration.domain_id)
    flavors = domain.export_flavors(matched) if domain else ()
    if not flavors:
        name = domain.name if domain else "this domain"
        raise ExportPlatformUnsupported(
            f"{name} is not a compact domain: its iterations export to "
            f"{', '.join(domain.export_platforms) if domain else 'nothing'} only; "
            f"train with a compact domain to export to {matched}."
        )
    if not flavor and "" not in flavors:
        flavor = flavors[0]  # Azure's default flavor of the platform (DockerFile: Linux)
    matched_flavor = next((f for f in flavors if f.lower() == (flavor or "").lower()), None)
    if matched_flavor is None:
        named = " or ".join(f for f in flavors if f)
        raise ExportPlatformUnsupported(
            f"{matched} flavor {flavor!r} is not supported; use "
            + (f"no flavor or {named}." if "" in flavors else f"{named}.")
        )
    return matched, matched_flavor


def _export_queue(*, iteration: Iteration, platform: str, flavor: str) -> Export:
    """The export, queued for a build when new, Failed or lost (on commit)."""
    try:
        with transaction.atomic():
            export, created = Export.objects.get_or_create(iteration=iteration, platform=platform, flavor=flavor)
    except IntegrityError:  # a concurrent request created it first
        export, created = Export.objects.get(iteration=iteration, platform=platform, flavor=flavor), False
    if not created:
        # Only a Failed export (or one whose worker vanished long ago) is built again, and only by the request
        # that flips it back to Exporting.
        now = timezone.now()
        retried = Export.objects.filter(id=export.id, status=Export.Status.FAILED).update(
            status=Export.Status.EXPORTING, error="", finished=None, created=now
        ) or Export.objects.filter(
            id=export.id, status=Export.Status.EXPORTING, created__lt=now - timedelta(seconds=STALE_SECONDS)
        ).update(created=now)
        if not retried and _stale(export=export, iteration=iteration):
            retried = Export.objects.filter(id=export.id, status=Export.Status.DONE).update(
                status=Export.Status.EXPORTING, error="", finished=None, created=now
            )
        if not retried:
            return export
        export.refresh_from_db()
    transaction.on_commit(lambda: _schedule(export=export))
    logger.info("export %s of iteration %s queued", export.id, iteration.id)
    return export


def _stale(*, export: Export, iteration: Iteration) -> int | None:
    """The max detections a Done detector export was built for, when it is not the project's now (exports built
    before the cut followed the project answered the engine's 300); None otherwise."""
    if export.status != Export.Status.DONE or iteration.project_type != "detection":
        return None
    built = int((export.parity or {}).get("max_detections") or MAX_DETECTIONS_LIMIT)
    return built if built != iteration.project.max_detections else None


def _schedule(*, export: Export) -> None:
    from predictions.tasks import export_iteration as export_iteration_task

    export_iteration_task.apply_async(args=[str(export.id)], queue="default")


def export_list(*, iteration: Iteration) -> list[Export]:
    return list(Export.objects.filter(iteration=iteration))


def export_rows(*, iteration: Iteration) -> list[dict[str, Any]]:
    """The export card's rows: one per (platform, flavor) the iteration's domain exports, in that order, each
    with its export when there is one ({"platform", "flavor", "export", "testid", "stale"}: the max detections a
    detector's was built for when they are not the project's now, see ``_stale``); then any other export of the
    iteration (built before a change of what the domain offers)."""
    built = {(e.platform, e.flavor): e for e in export_list(iteration=iteration)}
    pairs = [(p, f, built.pop((p, f), None)) for p, f in export_options(iteration=iteration)]
    pairs += [(p, f, e) for (p, f), e in built.items()]
    return [{"platform": p, "flavor": f, "export": e, "offered": i < len(pairs) - len(built),
             "stale": _stale(export=e, iteration=iteration) if e is not None else None,
             "testid": "-".join(["export", p.lower(), *([f.lower()] if f else [])])}
            for i, (p, f, e) in enumerate(pairs)]


def export_panel(*, iteration: Iteration) -> dict[str, Any]:
    """What the iteration's export card shows: its domain, the rows and whether one is being built (poll)."""
    rows = export_rows(iteration=iteration)
    polling = any(r["export"] is not None and r["export"].status == Export.Status.EXPORTING for r in rows)
    return {"domain": domain_of(iteration.domain_id), "rows": rows, "polling": polling}


def _validation_images(*, iteration: Iteration, folder: Path) -> list[Path]:
    """Local copies of the iteration's validation images (the parity report runs on them)."""
    ids = [row["id"] for row in (iteration.metrics or {}).get("validation_predictions", ())]
    files = dict(Image.objects.filter(project_id=iteration.project_id, id__in=ids).values_list("id", "file"))
    by_str = {str(k): v for k, v in files.items()}
    return _copies(((str(i), by_str.get(str(i), "")) for i in ids), folder=folder)


def _training_images(*, iteration: Iteration, folder: Path, limit: int = 16) -> list[Path]:
    """Local copies of up to ``limit`` of the iteration's training images, spread over the snapshot (int8
    calibration)."""
    items = list((iteration.snapshot or {}).get("images", ()))
    step = max(1, len(items) // limit)
    return _copies(((str(i["id"]), i.get("file", "")) for i in items[::step][:limit]), folder=folder)


def _copies(items: Any, *, folder: Path) -> list[Path]:
    """``{id}{suffix}`` copies of (id, storage name) pairs in ``folder``; missing files are skipped."""
    paths = []
    for sample_id, name in items:
        if not name:
            continue  # deleted since training
        target = folder / f"{sample_id}{Path(name).suffix.lower()}"
        try:
            with default_storage.open(name, "rb") as src, open(target, "wb") as out:
                shutil.copyfileobj(src, out)
        except OSError:
            continue
        paths.append(target)
    return paths


def export_build(*, export_id: Any) -> Export | None:
    """Build one queued export (the Celery task). Never raises: a failure ends as Failed with a reason."""
    export = Export.objects.select_related("iteration").filter(id=export_id).first()
    if export is None or export.status != Export.Status.EXPORTING:
        logger.info("export %s is not waiting to be built; skipping", export_id)
        return export
    iteration, previous = export.iteration, export.file  # a rebuilt export's old zip
    try:
        name, size, parity = _build(iteration=iteration, export=export)
    except Exception as exc:  # noqa: BLE001 - every failure must end as a readable Failed
        logger.exception("export %s failed", export.id)
        Export.objects.filter(id=export.id).update(
            status=Export.Status.FAILED, error=f"{type(exc).__name__}: {exc}"[:4000], finished=timezone.now()
        )
    else:
        Export.objects.filter(id=export.id).update(
            status=Export.Status.DONE, file=name, size=size, parity=parity, finished=timezone.now()
        )
        if previous and previous != name:
            storage_delete([previous])
        events.emit(events.EXPORT_READY, iteration_id=iteration.id, export_id=export.id)
    export.refresh_from_db()
    return export


def _write_model(*, iteration: Iteration, platform: str, flavor: str, artifact: Path, out: Path,
                 images: list[Path]) -> dict[str, Any]:
    """The platform's files in ``out`` (converters are imported here, in the worker, never by the web tier).
    A detector answers at most the project's max detections, as the prediction API does."""
    cut = iteration.project.max_detections if iteration.project_type == "detection" else None
    if platform == "DockerFile":
        from training.ml.export_docker import export_docker

        ids = {"project_id": str(iteration.project_id), "iteration_id": str(iteration.id)}
        return export_docker(artifact, out, flavor=flavor, validation_images=images, ids=ids, max_detections=cut)
    if platform == "OpenVino":
        from training.ml.export_openvino import export_openvino

        return export_openvino(artifact, out, validation_images=images, max_detections=cut)
    if platform == "CoreML":
        from training.ml.export_coreml import export_coreml

        return export_coreml(artifact, out, validation_images=images, max_detections=cut)
    if platform == "TensorFlow":
        from training.ml.export_tf import export_tensorflow

        return export_tensorflow(artifact, out, flavor=flavor, validation_images=images, max_detections=cut)
    from training.ml import export_onnx

    domain = domain_of(iteration.domain_id)
    if domain is None or not domain.compact or flavor:
        return export_onnx(artifact, out, validation_images=images, opset=ONNX_OPSETS[flavor], max_detections=cut)
    # Compact domain: the zip also holds the int8 model, calibrated on the training images.
    calibration = out.parent / "calibration"
    calibration.mkdir()
    answer = "boxes" if iteration.project_type == "detection" else "tags"
    truth = {str(r["id"]): list(r.get(answer, ())) for r in (iteration.metrics or {}).get("validation_predictions", ())}
    return export_onnx(artifact, out, validation_images=images, opset=ONNX_OPSETS[flavor], truth=truth,
                       int8_calibration=_training_images(iteration=iteration, folder=calibration), max_detections=cut)


def _build(*, iteration: Iteration, export: Export) -> tuple[str, int, dict[str, Any]]:
    from training.storage import iteration_artifact_local, iteration_storage_prefix

    artifact = iteration_artifact_local(iteration=iteration)
    with tempfile.TemporaryDirectory(prefix=f"tagsight-export-{export.id}-") as tmp:
        root = Path(tmp)
        images = root / "validation"
        images.mkdir()
        out = root / "export"
        report = _write_model(iteration=iteration, platform=export.platform, flavor=export.flavor,
                              artifact=artifact, out=out, images=_validation_images(iteration=iteration, folder=images))
        # Classification and detection reports name their verdict differently; give both the same summary keys.
        report.setdefault("passed", report.get("ok"))
        report.setdefault("max_abs_diff", report.get("max_abs_probability_diff", 0.0))
        for row in report.get("per_image", ()):  # no server paths in the download
            if isinstance(row, dict) and "image" in row:
                row["image"] = Path(str(row["image"])).name
        (out / "parity.json").write_text(json.dumps(report, indent=1))
        (out / "README.txt").write_text(_readme(iteration=iteration, report=report, export=export))
        zip_path = root / "export.zip"
        with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(out.rglob("*")):
                if path.is_file():
                    zf.write(path, path.relative_to(out).as_posix())
        safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in iteration.name).strip("-") or "iteration"
        with open(zip_path, "rb") as handle:
            name = default_storage.save(
                f"{iteration_storage_prefix(iteration=iteration)}/exports/{export.platform.lower()}/"
                f"{safe}-{(export.flavor or export.platform).lower()}.zip",
                handle,
            )
        size = zip_path.stat().st_size
    keys = ("images", "max_abs_diff", "max_abs_box_diff", "tolerance", "passed", "max_detections")
    summary: dict[str, Any] = {k: report.get(k) for k in keys if k in report}
    if "int8" in report:  # the export card shows the int8 model's figures too
        int8 = report["int8"]
        summary.update(int8_top1_agreement=int8.get("top1_agreement"), int8_map_delta=int8.get("map_delta"),
                       int8_speedup=int8.get("speedup"), int8_meets_bar=int8.get("meets_bar"),
                       int8_short_of=_short_of_bar(int8))
        if int8.get("image_size") != int8.get("fp32_image_size"):  # a compact model's smaller int8 input
            summary.update(int8_image_size=int8["image_size"])
    return name, size, summary



def _short_of_bar(int8: dict[str, Any]) -> list[str]:
    """What of its bar (``training.ml.quantize.int8_report``'s "bar") an int8 model misses, in words for the export
    card: "top-1 agreement ≥ 0.99", "mAP within 0.01", "≥ 1.8× speed"."""
    bar, short = int8.get("bar") or {}, []
    if "top1_agreement" in bar and (int8.get("top1_agreement") or 0.0) < bar["top1_agreement"]:
        short.append(f"top-1 agreement ≥ {bar['top1_agreement']:g}")
    if "max_map_drop" in bar and int8.get("map_delta") is not None and int8["map_delta"] < -bar["max_map_drop"]:
        short.append(f"mAP within {bar['max_map_drop']:g}")
    if "speedup" in bar and (int8.get("speedup") or 0.0) < bar["speedup"]:
        short.append(f"≥ {bar['speedup']:g}× speed")
    return short

_CONTENTS = {
    "ONNX": "model.onnx (pre-processing{post} inside the graph; input 'image' = uint8 RGB [height, width, 3]),\n"
    "labels.txt, metadata.json, predict.py (needs only onnxruntime, Pillow and numpy) and parity.json\n"
    "(the exported model against the Tagsight service on the iteration's validation images).\n\n"
    "    pip install onnxruntime pillow numpy\n    python predict.py my_image.jpg\n",
    "tiles": "\nSmall objects: predict.py tiles each image as the server does, the whole image and 2x2 overlapping\n"
    "tiles through the model, their boxes merged (metadata.json \"tiles\"; parity.json \"tiled\").\n",
    "ONNX-int8": "\nCompact domain: model_int8.onnx is the same model quantised to int8 (onnxruntime static\n"
    "quantisation calibrated on training images); parity.json \"int8\" has its top-1 agreement with model.onnx\n"
    "(detection: of the most probable box), the mAP of both (detection: box mAP@0.5) and their speed measured\n"
    "back to back. The int8 model may resize images to a smaller input than model.onnx's: metadata.json\n"
    "\"int8\" \"image_size\", the smallest tried whose answers stayed within the bar (parity.json \"int8\"\n"
    "\"candidates\": each size tried). A classifier's, where its training quantised it, is the very int8 model\n"
    "the service runs (parity.json \"int8\" \"server_max_abs_diff\": its largest probability difference from the\n"
    "service's).\n"
    "    python predict.py --int8 my_image.jpg\n",
    "OpenVino": "model.xml + model.bin (OpenVINO IR, fp32; pre-processing{post} inside; input 'image' = uint8 RGB\n"
    "[height, width, 3]), labels.txt, metadata.json, predict.py (needs only openvino, Pillow and numpy) and\n"
    "parity.json (the IR run by OpenVINO against the Tagsight service on the iteration's validation images).\n\n"
    "    pip install openvino pillow numpy\n    python predict.py my_image.jpg\n",
    "CoreML": "model.mlpackage (Core ML program, fp32: input 'image' = RGB image_size x image_size, scaling{post}\n"
    "inside; classifiers output classLabel / classLabel_probs), labels.txt, metadata.json, predict.py (macOS:\n"
    "coremltools, Pillow, numpy; it crops and resizes like the service) and parity.json. Core ML runs only on\n"
    "Apple platforms: the parity report checks the saved spec and the converted program, not the Core ML runtime.\n\n"
    "    pip install coremltools pillow numpy\n    python predict.py my_image.jpg   # on a Mac\n",
    "DockerFile": "Dockerfile and app/: server.py (Azure's exported-container contract: POST /image with the image\n"
    "as the body or the multipart field imageData, POST /url with JSON {{\"url\": ...}}; the same JSON as Azure's\n"
    "containers), predict.py, model.onnx (pre-processing{post} inside), labels.txt, metadata.json; parity.json\n"
    "(the app run as a plain process against the Tagsight service on the iteration's validation images).\n\n"
    "    docker build -t tagsight-model . && docker run -p 127.0.0.1:80:80 -d tagsight-model\n"
    "    curl -X POST http://127.0.0.1/image -H 'Content-Type: application/octet-stream' --data-binary @image.jpg\n"
    "Without Docker: pip install onnxruntime pillow numpy && python app/server.py --port 8080\n",
    "TensorFlowNormal": "saved_model/ (TensorFlow SavedModel, fp32; signature serving_default; pre-processing{post}\n"
    "inside; input 'image' = uint8 RGB [height, width, 3]), labels.txt, metadata.json, predict.py (needs only\n"
    "tensorflow, Pillow and numpy) and parity.json (the SavedModel run by TensorFlow against the Tagsight service on\n"
    "the iteration's validation images).\n\n"
    "    pip install tensorflow pillow numpy\n    python predict.py my_image.jpg\n",
    "TensorFlowLite": "model.tflite (TensorFlow Lite, fp32, builtin ops only; signature serving_default;\n"
    "pre-processing{post} inside; input 'image' = uint8 RGB [height, width, 3], resized to each image), labels.txt,\n"
    "metadata.json, predict.py (needs only ai-edge-litert, Pillow and numpy) and parity.json (the .tflite run by\n"
    "LiteRT against the Tagsight service on the iteration's validation images).\n\n"
    "    pip install ai-edge-litert pillow numpy\n    python predict.py my_image.jpg\n",
}


def _readme(*, iteration: Iteration, report: dict[str, Any], export: Export) -> str:
    flavor = f", flavor {export.flavor}" if export.flavor else ""
    what = ""
    if export.platform == "ONNX":
        what = f": model.onnx is ONNX opset {ONNX_OPSETS[export.flavor]} (metadata.json \"opset\")"
    post = ", box decoding and NMS" if iteration.project_type == "detection" else ""
    return (
        f"Tagsight export of {iteration.name} ({iteration.project_type}) of project {iteration.project_id}.\n"
        f"Platform {export.platform}{flavor}{what}.\n\n"
        f"Files: {(_CONTENTS.get(export.flavor) or _CONTENTS[export.platform]).format(post=post)}"
        + (_CONTENTS["ONNX-int8"] if "int8" in report else "")
        + (_CONTENTS["tiles"] if report.get("tiled") else "") + "\n"
        f"Parity: {report.get('images', 0)} images, max |difference| {report.get('max_abs_diff', 0):.2e}, "
        f"passed: {report.get('passed')}.\n"
    )


def export_delete_files(*, iteration: Iteration) -> None:
    """Delete an iteration's export zips from storage once the surrounding transaction commits."""
    names = list(Export.objects.filter(iteration=iteration).exclude(file="").values_list("file", flat=True))
    if names:
        transaction.on_commit(lambda: storage_delete(names))
