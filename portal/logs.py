"""Log wiring: a request id on every log line of a request and of the Celery tasks it queues; JSON lines on demand.

``RequestIdMiddleware`` takes a sane ``X-Request-ID`` from the client (or makes one), answers it in the response
header and keeps it in a context variable for the request. ``RequestIdFilter`` (attached to the handlers in
``settings.LOGGING`` and, in a worker, to Celery's) copies it onto each record. The task message carries it as a
header (``before_task_publish``) and the worker puts it back into the context variable around the task
(``task_prerun``/``task_postrun``), so one search for the id finds the web's lines and the worker's.
``LOG_FORMAT=json`` writes one JSON object per line (``JsonFormatter``).
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from django.http import HttpRequest, HttpResponse
from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

REQUEST_ID_HEADER = "X-Request-ID"
TASK_HEADER = "tagsight_request_id"  # the Celery message header that carries it to the worker
_SANE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

logger = logging.getLogger(__name__)

request_id_var: ContextVar[str] = ContextVar("tagsight_request_id", default="")


def request_id_from(value: str | None) -> str:
    """The client's id when it is sane (at most 64 of ``[A-Za-z0-9._-]``), otherwise a new one."""
    value = (value or "").strip()
    return value if _SANE.match(value) else uuid.uuid4().hex


class RequestIdMiddleware:
    """Gives each request an id: on the response header, on its log records, on the tasks it queues."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))
        token = request_id_var.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        response[REQUEST_ID_HEADER] = request_id
        return response


class RequestIdFilter(logging.Filter):
    """Puts ``request_id`` (``""`` outside a request or task) and ``request_suffix`` on every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = request_id_var.get()
        record.request_id = request_id
        record.request_suffix = f" request_id={request_id}" if request_id else ""
        return True


class JsonFormatter(_JsonFormatter):
    """One JSON object per line: timestamp, level, logger, message, request_id (and exception, when there is one)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("fmt", ["levelname", "name", "message", "request_id"])
        kwargs.setdefault("rename_fields", {"levelname": "level", "name": "logger", "exc_info": "exception"})
        kwargs.setdefault("timestamp", True)
        kwargs.setdefault("reserved_attrs", [*RESERVED_ATTRS, "request_suffix", "color_message"])
        super().__init__(*args, **kwargs)


# ---------------------------------------------------------------- Celery: the id travels with the task


def task_publish_add_request_id(headers: dict[str, Any] | None = None, **_: Any) -> None:
    """before_task_publish: a task queued while serving a request carries that request's id."""
    request_id = request_id_var.get()
    if request_id and headers is not None:
        headers.setdefault(TASK_HEADER, request_id)


_task_tokens: dict[str, Any] = {}


def task_prerun_set_request_id(task_id: str = "", task: Any = None, **_: Any) -> None:
    """task_prerun: the worker's log lines for this task carry the id of the request that queued it."""
    request = getattr(task, "request", None)
    request_id = getattr(request, TASK_HEADER, None) or (getattr(request, "headers", None) or {}).get(TASK_HEADER)
    if request_id:
        _task_tokens[task_id] = request_id_var.set(request_id_from(str(request_id)))
        logger.info("task %s[%s] started for request %s", getattr(task, "name", "?"), task_id, request_id)


def task_postrun_clear_request_id(task_id: str = "", **_: Any) -> None:
    token = _task_tokens.pop(task_id, None)
    if token is not None:
        request_id_var.reset(token)


def worker_logging_setup(logger: logging.Logger, format: str = "", **_: Any) -> None:  # noqa: A002 - signal's name
    """after_setup_logger / after_setup_task_logger: Celery's own handlers get the request id filter, and JSON
    lines under ``LOG_FORMAT=json``; the plain format gains `` request_id=...`` at the end when there is one."""
    from django.conf import settings

    for handler in logger.handlers:
        handler.addFilter(RequestIdFilter())
        if settings.LOG_FORMAT == "json":
            handler.setFormatter(JsonFormatter())
        elif format and "%(request_suffix)s" not in format:
            from celery.utils.log import ColorFormatter

            use_color = bool(getattr(handler.formatter, "use_color", False))
            handler.setFormatter(ColorFormatter(format + "%(request_suffix)s", use_color=use_color))
