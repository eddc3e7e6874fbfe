"""HTML views of Quick Test, the Predictions tab and ONNX export (thin: selectors and services do the work)."""

from __future__ import annotations

import re
import unicodedata
import uuid
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.staticfiles import finders
from django.core.files.storage import default_storage
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.middleware import HtmxDetails

from predictions import exports
from predictions import services as predictions
from predictions.models import Export, StoredPrediction
from projects.errors import ProjectsError
from projects.models import Image, Project, Tag
from projects.selectors import project_get_for
from projects.storage import stored_file_response
from training import selectors
from training.models import Iteration
from workspaces.access import Need, access, workspace_ids_of

SAMPLES = {  # shipped Quick Test samples (static/predictions/samples, MIT, see LICENSE.txt there)
    "hemlock-test.jpg": "Hemlock (Azure quickstart test image)",
    "japanese-cherry.jpg": "Japanese cherry",
    "fork-test.jpg": "Fork (Azure detection quickstart)",
}
MAX_VALIDATION_SAMPLES = 8
PAGE_SIZE = 48


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


# --------------------------------------------------------------------------------------------- Quick Test


def _completed(project: Project) -> list[Iteration]:
    return list(
        Iteration.objects.filter(project=project, status=Iteration.Status.COMPLETED)
        .defer("snapshot", "metrics").order_by("-number")
    )


def _validation_samples(iteration: Iteration | None) -> list[Image]:
    if iteration is None:
        return []
    metrics = Iteration.objects.filter(id=iteration.id).values_list("metrics", flat=True).first() or {}
    ids = [row.get("id") for row in metrics.get("validation_predictions", ())][:MAX_VALIDATION_SAMPLES]
    found = {str(i.id): i for i in Image.objects.filter(project_id=iteration.project_id, id__in=ids)}
    return [found[str(i)] for i in ids if str(i) in found]


def _quick_test_context(project: Project, iteration: Iteration | None, **extra: Any) -> dict[str, Any]:
    samples = {k: v for k, v in SAMPLES.items() if ("fork" in k) == project.is_detection}
    return {
        "project": project,
        "iterations": _completed(project),
        "iteration": iteration,
        "validation_samples": _validation_samples(iteration),
        "shipped_samples": samples,
        "tag_thresholds": _tag_thresholds(project, iteration),
        **extra,
    }


def _chosen_iteration(request: HttpRequest, project: Project) -> Iteration | None:
    value = request.POST.get("iteration") or request.GET.get("iteration")
    completed = Iteration.objects.filter(project=project, status=Iteration.Status.COMPLETED)
    if value:
        try:
            return completed.get(id=uuid.UUID(str(value)))
        except (ValueError, Iteration.DoesNotExist):
            raise Http404("No such completed iteration.") from None
    return completed.order_by("-number").first()


def _input_bytes(request: HttpRequest, project: Project) -> tuple[bytes, str]:
    """The image to test: a sample, an uploaded file or a URL fetched server-side. Raises PredictionError."""
    sample = request.POST.get("sample", "")
    if sample.startswith("image:"):
        try:
            image = Image.objects.get(project=project, id=uuid.UUID(sample[6:]))
        except (ValueError, Image.DoesNotExist):
            raise Http404("No such image.") from None
        with default_storage.open(image.file.name, "rb") as handle:
            return handle.read(), image.original_name or "validation image"
    if sample.startswith("static:"):
        name = sample[7:]
        path = finders.find(f"predictions/samples/{name}") if name in SAMPLES else None
        if not path:
            raise Http404("No such sample.")
        return Path(str(path)).read_bytes(), name
    upload = request.FILES.get("file")
    if upload is not None:  # one byte over the limit is enough for the image check to refuse it
        return upload.read(settings.TAGSIGHT_MAX_PREDICTION_BYTES + 1), upload.name or "upload"
    url = (request.POST.get("url") or "").strip()
    if url:
        from projects.fetch import FetchError, fetch_image

        try:
            return fetch_image(url), url
        except FetchError as exc:
            raise predictions.PredictionError(
                f"Could not use that URL: {exc.message}", code="BadRequestImageUrl"
            ) from None
    raise predictions.PredictionError("Choose an image file, paste an image URL or click a sample.",
                                      code="BadRequestImageFormat")


@require_http_methods(["GET", "POST"])
@access(Need.TRAIN)
def quick_test(request: HtmxHttpRequest, project_id: uuid.UUID) -> HttpResponse:
    """GET: the Quick Test page. POST: predict the chosen image and answer the result (a fragment for htmx)."""
    project = project_get_for(user=request.user, project_id=project_id)
    iteration = _chosen_iteration(request, project)
    if request.method == "GET":
        return render(request, "predictions/quick_test.html", _quick_test_context(project, iteration))
    template = "predictions/quick_test.html#qt-result" if request.htmx else "predictions/quick_test.html"
    if iteration is None:
        error = "This project has no trained iteration yet: train it first."
        return _result(request, template, project, iteration, error=error)
    try:
        data, label = _input_bytes(request, project)
        result = predictions.prediction_run(project=project, iteration=iteration, data=data, store=True,
                                            source=StoredPrediction.Source.QUICK_TEST)
    except ProjectsError as exc:
        return _result(request, template, project, iteration, error=str(exc))
    return _result(request, template, project, iteration, result=result, label=label)


def _result(request: HtmxHttpRequest, template: str, project: Project, iteration: Iteration | None,
            **extra: Any) -> HttpResponse:
    status = 400 if extra.get("error") and not request.htmx else 200
    return render(request, template, _quick_test_context(project, iteration, posted=True, **extra), status=status)


# --------------------------------------------------------------------------------------------- Predictions tab


def _fraction(value: Any) -> float | None:
    """A percentage field (0..100) as a fraction, or None."""
    try:
        return min(1.0, max(0.0, float(value) / 100.0)) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


@require_GET
@access(Need.VIEW)
def prediction_list(request: HtmxHttpRequest, project_id: uuid.UUID) -> HttpResponse:
    project = project_get_for(user=request.user, project_id=project_id)
    params = request.GET
    raw_iteration = params.get("iteration")
    iteration_id: uuid.UUID | None
    try:
        iteration_id = uuid.UUID(raw_iteration) if raw_iteration else None
    except ValueError:
        iteration_id = None
    order = params.get("order") or ""
    if order not in predictions.ORDERS:
        order = "uncertain"
    qs = predictions.prediction_list(
        project=project, iteration_id=iteration_id, tag=params.get("tag", ""),
        min_probability=_fraction(params.get("min")), max_probability=_fraction(params.get("max")), order=order,
    )
    page = Paginator(qs, PAGE_SIZE).get_page(params.get("page"))
    query = params.copy()
    query.pop("page", None)
    context = {
        "project": project,
        "page": page,
        "total": StoredPrediction.objects.filter(project=project).count(),
        "iterations": selectors.iteration_list(project=project),
        "tags": predictions.prediction_tag_names(project=project),
        "filters": {"iteration": str(iteration_id or ""), "tag": params.get("tag", ""), "min": params.get("min", ""),
                    "max": params.get("max", ""), "order": order},
        "query": query.urlencode(),
        "retention_days": settings.TAGSIGHT_PREDICTION_RETENTION_DAYS,
    }
    partial = bool(request.htmx) and request.htmx.target == "prediction-grid"
    template = "predictions/prediction_list.html" + ("#prediction-grid" if partial else "")
    return render(request, template, context)


@require_POST
@access(Need.TRAIN)
def predictions_delete(request: HttpRequest, project_id: uuid.UUID) -> HttpResponse:
    project = project_get_for(user=request.user, project_id=project_id)
    try:
        n = predictions.predictions_delete(project=project, prediction_ids=request.POST.getlist("ids"))
    except ProjectsError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Deleted {n} prediction{'s' if n != 1 else ''}.")
    return redirect(reverse("predictions:prediction-list", args=[project.id]) + _back_query(request))


def _back_query(request: HttpRequest) -> str:
    query = request.POST.get("back", "")
    return f"?{query}" if query and "\n" not in query else ""


def _detail_context(prediction: StoredPrediction, threshold: float | None, **extra: Any) -> dict[str, Any]:
    """``threshold`` None: a multilabel iteration's own per-tag thresholds (chosen on validation), else 50%."""
    project = prediction.project
    per_tag = _tag_thresholds(project, prediction.iteration) if threshold is None else {}
    threshold = 0.5 if threshold is None else threshold
    tags = list(Tag.objects.filter(project=project).order_by("name"))
    by_name = {t.name: t for t in tags}
    preds = prediction.predictions
    if project.is_detection:
        boxes = [
            dict(p, tag_id=str(by_name[p["tag"]].id) if p["tag"] in by_name else "", keep=p["probability"] >= threshold)
            for p in preds if p.get("box")
        ]
        chosen: set[str] = set()
    else:
        boxes = []
        above = [p["tag"] for p in preds if p["probability"] >= per_tag.get(p["tag"], threshold)]
        if not project.is_multilabel:
            above = [preds[0]["tag"]] if preds else []
        chosen = {str(by_name[t].id) for t in above if t in by_name}
    return {
        "project": project,
        "prediction": prediction,
        "tags": tags,
        "chosen": chosen,
        "boxes": boxes,
        "below": sum(not b["keep"] for b in boxes),  # listed behind "Show N below threshold"
        "threshold": threshold,
        "tag_thresholds": per_tag,
        "probabilities": {p["tag"]: p["probability"] for p in preds if not p.get("box")},
        **extra,
    }


def _tag_thresholds(project: Project, iteration: Iteration | None) -> dict[str, float]:
    """The per-tag thresholds a multilabel iteration chose on its validation predictions, if it has them and kept
    them (``training.ml.thresholds.threshold_report``: not where they did not beat 0.5)."""
    if not project.is_multilabel or iteration is None:
        return {}
    thresholds = (iteration.metrics or {}).get("thresholds") or {}
    return {} if thresholds.get("kept") is False else dict(thresholds.get("per_tag") or {})


@require_GET
@access(Need.VIEW)
def prediction_detail(request: HttpRequest, prediction_id: uuid.UUID) -> HttpResponse:
    prediction = predictions.prediction_get_for(user=request.user, prediction_id=prediction_id)
    threshold = _fraction(request.GET.get("threshold"))
    context = _detail_context(prediction, threshold, back=request.GET.get("back", ""))
    return render(request, "predictions/prediction_detail.html", context)


@require_POST
@access(Need.LABEL)
def prediction_add(request: HttpRequest, prediction_id: uuid.UUID) -> HttpResponse:
    """"Add to training images": the corrected tags (classification) or kept boxes (detection)."""
    prediction = predictions.prediction_get_for(user=request.user, prediction_id=prediction_id)
    project = prediction.project
    regions = []
    if project.is_detection:
        for i in request.POST.getlist("box"):
            if request.POST.get(f"keep-{i}") != "on":
                continue
            try:
                regions.append({"tag": request.POST[f"tag-{i}"], **{
                    k: float(request.POST[f"{k}-{i}"]) for k in ("left", "top", "width", "height")}})
            except (KeyError, ValueError):
                continue
    try:
        result = predictions.prediction_add_to_training(
            prediction=prediction, tags=request.POST.getlist("tags"), regions=regions
        )
    except ProjectsError as exc:
        context = _detail_context(prediction, None, error=str(exc), back=request.POST.get("back", ""))
        return render(request, "predictions/prediction_detail.html", context, status=400)
    note = " (it was already there; its tags were added)" if result.status == "OKDuplicate" else ""
    messages.success(request, f"Added to training images{note}.")
    if request.POST.get("then") == "label" and result.image is not None:  # fine-tune it in the labeler (#5)
        return redirect("labeling:labeler", image_id=result.image.id)
    return redirect(reverse("predictions:prediction-list", args=[project.id]) + _back_query(request))


@require_POST
@access(Need.TRAIN)
def prediction_delete(request: HttpRequest, prediction_id: uuid.UUID) -> HttpResponse:
    prediction = predictions.prediction_get_for(user=request.user, prediction_id=prediction_id)
    project_id = prediction.project_id
    predictions.prediction_delete(prediction=prediction)
    messages.success(request, "Prediction deleted.")
    return redirect(reverse("predictions:prediction-list", args=[project_id]) + _back_query(request))


@require_GET
@access(Need.VIEW)
def prediction_file(request: HttpRequest, prediction_id: uuid.UUID, kind: str) -> HttpResponse | FileResponse:
    """The stored image (``original``) or its ``thumbnail``, behind the login; strangers get 404."""
    if kind not in ("original", "thumbnail"):
        raise Http404("No such rendition.")
    prediction = predictions.prediction_get_for(user=request.user, prediction_id=prediction_id)
    name = prediction.file if kind == "original" else predictions.prediction_thumbnail(prediction=prediction)
    return stored_file_response(name, content_type=prediction.content_type if kind == "original" else "image/jpeg")


# --------------------------------------------------------------------------------------------- export


def _export_panel(request: HttpRequest, iteration: Iteration, **extra: Any) -> HttpResponse:
    context = {"iteration": iteration, **exports.export_panel(iteration=iteration), **extra}
    return render(request, "predictions/_export_panel.html", context)


@require_http_methods(["GET", "POST"])
@access(Need.VIEW, post=Need.TRAIN)
def iteration_export(request: HtmxHttpRequest, iteration_id: uuid.UUID) -> HttpResponse:
    """GET: the export panel (polled while building). POST: export (reuses a Done or in-flight export)."""
    iteration = selectors.iteration_get_for(user=request.user, iteration_id=iteration_id)
    error = ""
    if request.method == "POST":
        try:
            exports.export_request(iteration=iteration, platform=request.POST.get("platform", "ONNX"),
                                   flavor=request.POST.get("flavor", ""))
        except ProjectsError as exc:
            error = str(exc)
        if not request.htmx:
            if error:
                messages.error(request, error)
            return redirect("training:iteration-detail", iteration_id=iteration.id)
    return _export_panel(request, iteration, error=error)


@require_GET
@access(Need.TRAIN)
def export_download(request: HttpRequest, export_id: uuid.UUID) -> HttpResponse | FileResponse:
    try:
        export = Export.objects.select_related("iteration__project").get(
            id=export_id,
            iteration__project__workspace_id__in=workspace_ids_of(request.user),
            status=Export.Status.DONE,
        )
    except (Export.DoesNotExist, ValueError):
        raise Http404("No such export.") from None
    return stored_file_response(export.file, content_type="application/zip", cache_control=None,
                                filename=_export_filename(export), attachment=True)


def _slug(text: str) -> str:
    """Letters, digits and '_' kept (accents dropped), any other run becomes one '-': safe in every file system."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z0-9_]+", "-", ascii_text).strip("-")[:80]


def _export_filename(export: Export) -> str:
    """``<project>-<iteration>-<platform>[-<flavor>].zip``, so downloads of different models never collide."""
    iteration = export.iteration
    parts = [_slug(iteration.project.name) or "project", _slug(iteration.name) or "iteration", export.platform.lower()]
    if export.flavor:
        parts.append(_slug(export.flavor))
    return "-".join(p for p in parts if p) + ".zip"
