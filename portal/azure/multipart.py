"""Binary image bodies the SDKs' way: the bytes of multipart part ``imageData`` (even without filename), or a raw body.

Django's MultiPartParser treats a part without a filename as a text field and decodes it lossily, so the
body is parsed here. Every part named ``imageData`` (or any file part) is returned as exact bytes.
"""

from __future__ import annotations

import re

from django.http import HttpRequest

from portal.azure.errors import AzureError

_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)
_NAME = re.compile(rb'\bname="([^"]*)"', re.IGNORECASE)
_FILENAME = re.compile(rb"\bfilename\*?=", re.IGNORECASE)


def image_parts(request: HttpRequest, *, field: str = "imageData") -> list[memoryview]:
    """The image payloads of a request: multipart parts (``imageData`` or with a filename) or the raw body.

    Views into the one request body, not copies: callers take ``bytes(part)`` one part at a time.
    """
    content_type = request.headers.get("Content-Type", "")
    body = request.body
    if content_type.lower().startswith("multipart/"):
        match = _BOUNDARY.search(content_type)
        if not match:
            raise AzureError("BadRequestImageBatch", "multipart body without a boundary.", 400)
        parts = _split(body, match.group(1).encode("latin-1"))
        named = [data for headers, data in parts if _part_name(headers) == field.encode()]
        if not named:
            # Tolerate other part names (curl -F file=@x.jpg): take the parts that carry a file.
            named = [data for headers, data in parts if _FILENAME.search(headers)]
        images = [data for data in named if data]
    elif body:
        images = [memoryview(body)]
    else:
        images = []
    if not images:
        raise AzureError("BadRequestImageBatch", f"No image data: send multipart part {field!r} or a raw body.", 400)
    return images


def _part_name(headers: bytes) -> bytes | None:
    for line in headers.split(b"\r\n"):
        if line.lower().startswith(b"content-disposition:"):
            found = _NAME.search(line)
            return found.group(1) if found else None
    return None


def _split(body: bytes, boundary: bytes) -> list[tuple[bytes, memoryview]]:
    """(headers, data) for each part; data is a view into the body (no copy, no decoding)."""
    delimiter = b"--" + boundary
    view = memoryview(body)
    parts: list[tuple[bytes, memoryview]] = []
    position = body.find(delimiter)
    if position < 0:
        raise AzureError("BadRequestImageBatch", "multipart body does not contain its boundary.", 400)
    while True:
        position += len(delimiter)
        if body[position : position + 2] == b"--":
            break  # closing delimiter
        # Skip the rest of the delimiter line (transport padding, then CRLF).
        line_end = body.find(b"\r\n", position)
        if line_end < 0:
            break
        start = line_end + 2
        end = body.find(b"\r\n" + delimiter, start)
        if end < 0:
            raise AzureError("BadRequestImageBatch", "multipart body is truncated.", 400)
        header_end = body.find(b"\r\n\r\n", start, end + 2)
        if body[start : start + 2] == b"\r\n":  # a part with no headers at all
            headers, data = b"", view[start + 2 : end]
        elif header_end < 0:
            headers, data = body[start:end], view[0:0]
        else:
            headers, data = body[start:header_end], view[header_end + 4 : end]
        parts.append((headers, data))
        position = end + 2
    return parts
