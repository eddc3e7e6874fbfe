"""Azure-style errors: ``{"code": ..., "message": ...}`` at top level, and the one place domain errors become them."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from django.core.exceptions import RequestDataTooBig, TooManyFilesSent, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse

logger = logging.getLogger(__name__)


class AzureError(Exception):
    """An error answered as Azure's CustomVisionError; ``code`` is one of Azure's CustomVisionErrorCodes."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status

    def response(self) -> JsonResponse:
        return error_response(self.code, self.message, self.status)

    @classmethod
    def from_domain(cls, exc: BaseException) -> AzureError:
        """Translate any error our services raise (``.code``/``.status``, MLError, ValidationError, Http404)."""
        if isinstance(exc, AzureError):
            return exc
        if isinstance(exc, Http404):
            return cls("NotFound", str(exc) or "Not found.", 404)
        if isinstance(exc, ValidationError):
            return cls("BadRequest", _validation_message(exc), 400)
        if isinstance(exc, (RequestDataTooBig, TooManyFilesSent)):
            return cls("BadRequestImageBatch", "The request is too large.", 400)
        try:
            from training.ml.errors import MLError
        except ImportError:  # pragma: no cover - the engine is always installed
            MLError = ()  # type: ignore[assignment,misc]  # noqa: N806
        code = getattr(exc, "code", None)
        if isinstance(code, str) and code:
            status = getattr(exc, "status", None)
            if not isinstance(status, int):
                # Engine errors carry no HTTP status: "Error*" codes are server-side, the rest are bad input.
                status = 500 if isinstance(exc, MLError) and code.startswith("Error") else 400
            message = getattr(exc, "message", None) or str(exc) or code
            return cls(code, str(message), status)
        raise exc


def _validation_message(exc: ValidationError) -> str:
    if hasattr(exc, "message_dict"):
        return "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
    return " ".join(exc.messages)


def error_response(code: str, message: str, status: int) -> JsonResponse:
    return JsonResponse(
        {"code": code, "message": message}, status=status, content_type="application/json; charset=utf-8"
    )


def translate_errors(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Answer every failure inside an API view as an Azure error; never an HTML page."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - this is the edge: everything becomes CustomVisionError
            try:
                err = AzureError.from_domain(exc)
            except Exception:
                logger.exception("unhandled error in %s %s", request.method, request.path)
                return error_response("ErrorUnknown", "An unexpected error occurred.", 500)
            if err.status >= 500:
                logger.error("%s %s -> %s %s", request.method, request.path, err.status, err.code)
            return err.response()

    return wrapped
