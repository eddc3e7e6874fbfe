"""Key authentication: ``@training_key_required`` / ``@prediction_key_required`` (Training-Key, Prediction-Key).

A key belongs to a workspace (Key 1 or Key 2 of its kind): the request acts as that key, on that workspace's
projects only (``workspaces.access.KeyPrincipal`` becomes ``request.user``), and the audit log says "Training Key N".
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from portal.azure.errors import error_response, translate_errors
from portal.ratelimit import prediction_key_admit
from workspaces import audit
from workspaces.access import principal_for_key

UNAUTHORIZED_MESSAGE = (
    "Access denied due to invalid subscription key or wrong API endpoint. "
    "Make sure to provide a valid key for an active subscription and use a correct regional API endpoint."
)


def _too_many_requests(request: HttpRequest, wait: int) -> HttpResponse:
    """Azure's throttling answer (429, Retry-After), its message worded as Azure's gateway words it."""
    from portal.metrics import route_name

    operation = route_name(request).partition(":")[2] or "Prediction"
    limit = settings.TAGSIGHT_PREDICTION_RATE_LIMIT
    response = error_response(
        "429",
        f"Requests to the {operation} Operation under Custom Vision Prediction have exceeded the rate limit of "
        f"this prediction key ({limit} per second). Please retry after {wait} second{'s' if wait != 1 else ''}.",
        429,
    )
    response["Retry-After"] = str(wait)
    return response


def _key_required(header: str, kind: str) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            key = (request.headers.get(header) or "").strip()  # request.headers is case-insensitive
            principal = principal_for_key(kind=kind, key=key)
            if principal is None:
                return error_response("Unauthorized", UNAUTHORIZED_MESSAGE, 401)
            if kind == "prediction" and (wait := prediction_key_admit(workspace_id=principal.workspace_id,
                                                                      slot=principal.slot)):
                return _too_many_requests(request, wait)
            request.user = principal  # type: ignore[assignment]  # views pass it to selectors and services
            with audit.acting_as(audit.actor_for(request, principal)):
                return view(request, *args, **kwargs)

        # Key-authenticated, never cookie-authenticated: no CSRF. Errors inside become Azure errors.
        return csrf_exempt(translate_errors(wrapped))

    return decorator


training_key_required = _key_required("Training-Key", "training")
prediction_key_required = _key_required("Prediction-Key", "prediction")
