"""create_images_from_files bodies without extra copies: each base64 ``contents`` is decoded from the body, in turn.

A full batch is 64 x 6 MB as base64 JSON (~512 MB). ``json.loads`` on it would hold the body, its str
copy and every base64 str at once. Instead each ``"contents": "<base64>"`` value is swapped for its
index in a small skeleton that ``json.loads`` parses, and each image is decoded from a memoryview of
the body only when it is processed (and dropped after).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from portal.azure.errors import AzureError

_CONTENTS = re.compile(rb'"contents"\s*:\s*"', re.IGNORECASE)


@dataclass
class FileBatch:
    data: dict[str, Any]  # the batch with each entry's contents replaced by an index into ``_spans``
    _body: bytes
    _spans: list[tuple[int, int]]

    def contents(self, entry: dict[str, Any]) -> bytes | None:
        """The decoded bytes of one entry (None when missing or not valid base64)."""
        value = next((v for k, v in entry.items() if isinstance(k, str) and k.lower() == "contents"), None)
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(self._spans):
            start, end = self._spans[value]
            raw: Any = memoryview(self._body)[start:end]
        elif isinstance(value, str):
            raw = value
        elif isinstance(value, list) and all(isinstance(b, int) and 0 <= b < 256 for b in value):
            return bytes(value)
        else:
            return None
        try:
            # validate=False drops characters outside the alphabet, including JSON's escaped "\/".
            return base64.b64decode(raw)
        except (binascii.Error, ValueError):
            return None

    def entries(self) -> Iterator[dict[str, Any]]:
        images = next((v for k, v in self.data.items() if k.lower() == "images"), None)
        for entry in images or []:
            yield entry if isinstance(entry, dict) else {}


def parse_file_batch(body: bytes) -> FileBatch:
    pieces: list[bytes] = []
    spans: list[tuple[int, int]] = []
    position = 0
    for match in _CONTENTS.finditer(body):
        if match.start() < position:
            continue
        start = match.end()
        end = body.find(b'"', start)
        if end < 0:
            raise AzureError("BadRequest", "The request body is not valid JSON.", 400)
        pieces.append(body[position : match.start()])
        pieces.append(b'"contents":%d' % len(spans))
        spans.append((start, end))
        position = end + 1
    pieces.append(body[position:])
    skeleton = b"".join(pieces)
    if not skeleton.strip():
        raise AzureError("BadRequestImageBatch", "The request body is empty: send an ImageFileCreateBatch.", 400)
    try:
        data = json.loads(skeleton)
    except (ValueError, UnicodeDecodeError):
        raise AzureError("BadRequest", "The request body is not valid JSON.", 400) from None
    if not isinstance(data, dict):
        raise AzureError("BadRequest", "The request body must be a JSON object (ImageFileCreateBatch).", 400)
    images = next((v for k, v in data.items() if k.lower() == "images"), None)
    if images is not None and not isinstance(images, list):
        raise AzureError("BadRequestImageBatch", "images must be a list.", 400)
    return FileBatch(data=data, _body=body, _spans=spans)
