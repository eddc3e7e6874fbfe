"""Wire format helpers: camelCase JSON responses, ISO-8601 UTC, GUIDs, comma lists, skip/take, tolerant bodies."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterable
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse

from portal.azure.errors import AzureError

JSON_CONTENT_TYPE = "application/json; charset=utf-8"
DEFAULT_TAKE = 50
MAX_TAKE = 256


def respond(data: Any, status: int = 200) -> JsonResponse:
    """JSON body of any shape (objects, lists, bare numbers and ``true``), as the SDKs expect."""
    return JsonResponse(data, status=status, safe=False, content_type=JSON_CONTENT_TYPE)


def no_content() -> HttpResponse:
    return HttpResponse(status=204)


def iso(value: dt.datetime | None) -> str | None:
    """ISO-8601 in UTC with a ``Z`` (``2017-12-18T22:40:29.123Z``)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    text = value.astimezone(dt.UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def parse_guid(
    value: str | None, *, code: str = "BadRequestInvalidIds", what: str = "id", status: int = 400
) -> uuid.UUID:
    try:
        return uuid.UUID(str(value).strip().strip("{}"))
    except (ValueError, AttributeError, TypeError):
        raise AzureError(code, f"{what} {value!r} is not a valid GUID.", status) from None


def parse_guids(values: Iterable[Any], *, what: str = "id") -> list[uuid.UUID]:
    return [parse_guid(v, what=what) for v in values]


def query_list(request: HttpRequest, name: str) -> list[str]:
    """A list query parameter: comma-separated (``tagIds=a,b``, msrest's way) and/or repeated."""
    out: list[str] = []
    for raw in _getlist(request, name):
        out.extend(part.strip() for part in raw.split(",") if part.strip())
    return out


def query_guids(
    request: HttpRequest, name: str, *, limit: int | None = None, missing_code: str | None = None
) -> list[uuid.UUID]:
    """The GUIDs of a comma-separated query parameter (deduplicated); with ``missing_code``, none is an error."""
    ids = [parse_guid(v, what=name) for v in query_list(request, name)]
    if missing_code and not ids:
        raise AzureError(missing_code, f"{name} is required.", 400)
    if limit is not None and len(ids) > limit:
        raise AzureError("BadRequestExceededBatchSize", f"At most {limit} {name} per request.", 400)
    return list(dict.fromkeys(ids))


def _getlist(request: HttpRequest, name: str) -> list[str]:
    # Query names are case-insensitive in Azure (ASP.NET); the SDKs send them camelCased.
    lowered = name.lower()
    out: list[str] = []
    for key in request.GET:
        if key.lower() == lowered:
            out.extend(request.GET.getlist(key))
    return out


def query_str(request: HttpRequest, name: str, default: str | None = None) -> str | None:
    values = _getlist(request, name)
    return values[-1] if values else default


def query_bool(request: HttpRequest, name: str, default: bool = False) -> bool:
    value = query_str(request, name)
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise AzureError("BadRequest", f"{name} must be true or false, got {value!r}.", 400)


def query_int(
    request: HttpRequest, name: str, default: int, *, minimum: int | None = None, maximum: int | None = None
) -> int:
    value = query_str(request, name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise AzureError("BadRequest", f"{name} must be an integer, got {value!r}.", 400) from None
    if minimum is not None and number < minimum:
        raise AzureError("BadRequest", f"{name} must be at least {minimum}.", 400)
    if maximum is not None and number > maximum:
        raise AzureError("BadRequest", f"{name} must be at most {maximum}.", 400)
    return number


def query_float(
    request: HttpRequest, name: str, default: float, *, minimum: float = 0.0, maximum: float = 1.0
) -> float:
    value = query_str(request, name)
    if value is None or value == "":
        return default
    try:
        number = float(value)
    except ValueError:
        raise AzureError("BadRequest", f"{name} must be a number, got {value!r}.", 400) from None
    if not (minimum <= number <= maximum):  # also rejects NaN
        raise AzureError("BadRequest", f"{name} must be between {minimum} and {maximum}.", 400)
    return number


def paging(request: HttpRequest, *, default_take: int = DEFAULT_TAKE, max_take: int = MAX_TAKE) -> tuple[int, int]:
    """(skip, take) from the query, with Azure's defaults and limits."""
    take = query_int(request, "take", default_take, minimum=0, maximum=max_take)
    skip = query_int(request, "skip", 0, minimum=0)
    return skip, take


def json_body(request: HttpRequest, *, expect: type | tuple[type, ...] = dict, required: bool = False) -> Any:
    """Parsed JSON body; an empty body (the SDKs send Content-Type json with Content-Length 0) is None."""
    raw = request.body
    if not raw.strip():
        if required:
            raise AzureError("BadRequest", "A JSON body is required.", 400)
        return None
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise AzureError("BadRequest", "The request body is not valid JSON.", 400) from None
    if data is None and not required:
        return None
    if not isinstance(data, expect):
        raise AzureError("BadRequest", "The request body has the wrong JSON type.", 400)
    return data


def body_field(data: dict[str, Any] | None, name: str, default: Any = None) -> Any:
    """A field of a JSON object body, matched case-insensitively (ASP.NET model binding)."""
    if not data:
        return default
    if name in data:
        return data[name]
    lowered = name.lower()
    for key, value in data.items():
        if isinstance(key, str) and key.lower() == lowered:
            return value
    return default


def body_objects(data: dict[str, Any] | None, name: str, *, code: str, shape: str) -> list[dict[str, Any]]:
    """The list-of-objects field ``name`` of a JSON body (missing = empty), else a 400 with ``code``."""
    raw = body_field(data, name) or []
    if not isinstance(raw, list) or not all(isinstance(e, dict) for e in raw):
        raise AzureError(code, f"{name} must be a list of {shape}.", 400)
    return raw


def child_or_404(queryset: Any, raw_id: str, *, code: str, what: str) -> Any:
    """The row of ``queryset`` with this id; a malformed or unknown id is the same Azure 404."""
    try:
        row = queryset.filter(id=uuid.UUID(raw_id)).first()
    except ValueError:
        row = None
    if row is None:
        raise AzureError(code, f"{what} {raw_id} not found.", 404)
    return row
