"""Signed, key-less image URLs for the API's ``*ImageUri`` fields (Azure hands out SAS URLs the same way).

A URL carries a signed, time-limited token naming the image and the rendition; whoever holds it can fetch
that one file until it expires, as with Azure's SAS links. No token, a bad one or an expired one: 404.
"""

from __future__ import annotations

from typing import Any

from django.core import signing
from django.core.files.storage import FileSystemStorage, default_storage
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.views.decorators.http import require_GET

from portal.azure.errors import error_response

SALT = "tagsight.azure.media"
MAX_AGE_SECONDS = 24 * 3600
KINDS = {"original": "file", "display": "display", "thumbnail": "thumbnail"}


def media_uri(request: HttpRequest, image: Any, kind: str) -> str | None:
    """Absolute signed URL of one rendition of an image (None when the rendition is missing)."""
    if not getattr(image, KINDS[kind]):
        return None
    token = signing.dumps([str(image.id), kind], salt=SALT, compress=True)
    return request.build_absolute_uri(reverse("azure-media", args=[token]))


@require_GET
def media(request: HttpRequest, token: str) -> HttpResponse:
    from projects.models import Image

    try:
        image_id, kind = signing.loads(token, salt=SALT, max_age=MAX_AGE_SECONDS)
        field = KINDS[kind]
        image = Image.objects.get(id=image_id)
    except (signing.BadSignature, ValueError, TypeError, KeyError, Image.DoesNotExist):
        return error_response("NotFound", "This image link is invalid or has expired.", 404)
    name = getattr(image, field).name
    if not isinstance(default_storage, FileSystemStorage):
        return HttpResponseRedirect(default_storage.url(name))
    try:
        handle = default_storage.open(name, "rb")
    except FileNotFoundError:
        return error_response("NotFound", "The file is missing.", 404)
    response = FileResponse(handle, content_type=image.content_type if field == "file" else "image/jpeg")
    response["Cache-Control"] = f"private, max-age={MAX_AGE_SECONDS}"
    return response
