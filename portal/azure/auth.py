"""Key authentication: ``@training_key_required`` / ``@prediction_key_required`` (Training-Key, Prediction-Key)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from portal.azure.errors import error_response, translate_errors

UNAUTHORIZED_MESSAGE = (
    "Access denied due to invalid subscription key or wrong API endpoint. "
    "Make sure to provide a valid key for an active subscription and use a correct regional API endpoint."
)


def _key_required(header: str, kind: str) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            from projects.accounts import user_for_key

            key = (request.headers.get(header) or "").strip()  # request.headers is case-insensitive
            user = user_for_key(**{kind: key}) if key else None
            if user is None:
                return error_response("Unauthorized", UNAUTHORIZED_MESSAGE, 401)
            request.user = user  # the key's owner; views pass it explicitly to selectors and services
            return view(request, *args, **kwargs)

        # Key-authenticated, never cookie-authenticated: no CSRF. Errors inside become Azure errors.
        return csrf_exempt(translate_errors(wrapped))

    return decorator


training_key_required = _key_required("Training-Key", "training_key")
prediction_key_required = _key_required("Prediction-Key", "prediction_key")
