"""Operational endpoints: /healthz reports database, storage, broker and worker state as JSON; /favicon.ico."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage, storages
from django.db import connection
from django.http import HttpRequest, HttpResponsePermanentRedirect, JsonResponse
from django.templatetags.static import static

logger = logging.getLogger(__name__)


def _check_database() -> dict[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return {"ok": True, "vendor": connection.vendor}


def _check_storage() -> dict[str, Any]:
    name = default_storage.save(f"healthz/{uuid.uuid4().hex}.txt", ContentFile(b"ok"))
    try:
        with default_storage.open(name) as fh:
            ok = fh.read() == b"ok"
    finally:
        default_storage.delete(name)
    return {"ok": ok, "backend": type(storages["default"]).__name__}


def _check_broker() -> dict[str, Any]:
    from portal.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=3)
        transport = conn.transport_cls
    return {"ok": True, "transport": str(transport)}


def _check_worker() -> dict[str, Any]:
    from training.selectors import worker_list_alive

    workers = worker_list_alive()
    return {"ok": bool(workers), "workers": workers}


def healthz(request: HttpRequest) -> JsonResponse:
    checks: dict[str, Any] = {}
    for name, check in (
        ("database", _check_database),
        ("storage", _check_storage),
        ("broker", _check_broker),
        ("worker", _check_worker),
    ):
        try:
            checks[name] = check()
        except Exception as exc:  # a health check reports failures, it never raises
            logger.warning("healthz %s failed: %s", name, exc)
            checks[name] = {"ok": False, "error": str(exc)}
    core_ok = all(checks[n]["ok"] for n in ("database", "storage", "broker"))
    body = {"status": "ok" if core_ok and checks["worker"]["ok"] else ("degraded" if core_ok else "error"), **checks}
    return JsonResponse(body, status=200 if core_ok else 503)


def favicon(request: HttpRequest) -> HttpResponsePermanentRedirect:
    """Browsers and tools that ask for /favicon.ico get the SVG icon that base.html links (its hashed static URL)."""
    return HttpResponsePermanentRedirect(static("favicon.svg"))
