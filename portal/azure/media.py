"""Signed, key-less file URLs for the API's ``*Uri`` fields (Azure hands out SAS URLs the same way).

A URL carries a signed, time-limited token naming one stored file (an image rendition, a stored
prediction's image, an export's zip); whoever holds it can fetch that one file until it expires, as with
Azure's SAS links. No token, a bad one or an expired one: 404.
"""

from __future__ import annotations

from typing import Any

from django.core import signing
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.urls import reverse
from django.views.decorators.http import require_GET

from portal.azure.errors import error_response
from projects.storage import stored_file_response

SALT = "tagsight.azure.media"
MAX_AGE_SECONDS = 24 * 3600
KINDS = {"original": "file", "display": "display", "thumbnail": "thumbnail"}  # image renditions


def _uri(request: HttpRequest, what: str, obj_id: Any, field: str) -> str:
    token = signing.dumps([what, str(obj_id), field], salt=SALT, compress=True)
    return request.build_absolute_uri(reverse("azure-media", args=[token]))


def media_uri(request: HttpRequest, image: Any, kind: str) -> str | None:
    """Absolute signed URL of one rendition of a training image (None when the rendition is missing)."""
    field = KINDS[kind]
    return _uri(request, "image", image.id, field) if getattr(image, field) else None


def prediction_uri(request: HttpRequest, prediction: Any, field: str) -> str | None:
    """Signed URL of a stored prediction's image (``file`` or ``thumbnail``)."""
    return _uri(request, "prediction", prediction.id, field) if getattr(prediction, field) else None


def export_uri(request: HttpRequest, export: Any) -> str | None:
    """Signed URL of a finished export's zip."""
    return _uri(request, "export", export.id, "file") if export.file else None


def _resolve(what: str, obj_id: str, field: str) -> tuple[str, str, str | None]:
    """(storage name, content type, download filename) of a token's file; LookupError when gone."""
    if what == "image" and field in KINDS.values():
        from projects.models import Image

        image = Image.objects.get(id=obj_id)
        return getattr(image, field).name, image.content_type if field == "file" else "image/jpeg", None
    if what == "prediction" and field in ("file", "thumbnail"):
        from predictions.models import StoredPrediction

        prediction = StoredPrediction.objects.get(id=obj_id)
        return getattr(prediction, field), prediction.content_type if field == "file" else "image/jpeg", None
    if what == "export" and field == "file":
        from predictions.models import Export

        export = Export.objects.get(id=obj_id, status="Done")
        return export.file, "application/zip", export.file.rsplit("/", 1)[-1]
    raise LookupError(what)


@require_GET
def media(request: HttpRequest, token: str) -> HttpResponse | FileResponse:
    from django.core.exceptions import ObjectDoesNotExist

    try:
        what, obj_id, field = signing.loads(token, salt=SALT, max_age=MAX_AGE_SECONDS)
        name, content_type, filename = _resolve(what, obj_id, field)
    except (signing.BadSignature, ValueError, TypeError, LookupError, ObjectDoesNotExist):
        return error_response("NotFound", "This link is invalid or has expired.", 404)
    try:
        if not name:
            raise Http404("The file is missing.")
        cache = f"private, max-age={MAX_AGE_SECONDS}"
        return stored_file_response(
            name, content_type=content_type, cache_control=cache, filename=filename or "", attachment=bool(filename)
        )
    except Http404:
        return error_response("NotFound", "The file is missing.", 404)
