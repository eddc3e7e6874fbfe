"""Azure Custom Vision routes: /customvision/{v3.0..v3.4-preview}/training/..., /customvision/{v3.0|v3.1}/prediction/...

The operations themselves are declared in portal.azure.routes (the route table); this module mounts them.
Every version string the SDKs and samples use maps to the same handlers; the path is matched
case-insensitively (the curl quickstart writes ``/Training/``). Unknown paths under the prefix answer
an Azure-style 404, never Django's HTML page.
"""

from __future__ import annotations

import re
from functools import partial
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.urls import include, re_path
from django.urls.conf import _path  # type: ignore[attr-defined]  # private helper, not in django-stubs
from django.urls.resolvers import LocaleRegexDescriptor, RegexPattern
from django.views.decorators.csrf import csrf_exempt

from portal.azure.errors import error_response
from portal.azure.media import media
from portal.azure.openapi import openapi_json
from portal.azure.operations import Route
from portal.azure.routes import PREDICTION, TRAINING


class _CaseInsensitiveRegex(LocaleRegexDescriptor):
    def _compile(self, regex: str) -> re.Pattern[str]:
        return re.compile(regex, re.IGNORECASE)


class CaseInsensitiveRegexPattern(RegexPattern):
    """Matches path segments case-insensitively (curl quickstarts write /Training/, the SDKs /training/).

    An inline ``(?i)`` would do the same for matching, but Django cannot reverse a pattern that has a
    global flag in the middle (after an include's prefix), which breaks every ``reverse()`` in the site.
    """

    regex = _CaseInsensitiveRegex()


ci_path = partial(_path, Pattern=CaseInsensitiveRegexPattern)


@csrf_exempt
def not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    return error_response("NotFound", f"No Custom Vision operation at {request.path}.", 404)


def routed(*routes: Route) -> list[Any]:
    """URL patterns dispatching to these routes, then an Azure 404 for any other path under the base."""
    return [*(ci_path(r.regex, r, kwargs=dict(r.kwargs)) for r in routes), re_path(r"", not_found)]


urlpatterns = [
    ci_path(r"^customvision/openapi\.json$", openapi_json, name="azure-openapi"),
    re_path(r"^customvision/media/(?P<token>[A-Za-z0-9_:.\-]+)$", media, name="azure-media"),
    ci_path(r"^customvision/v3\.(?:[0-3]|4-preview)/training/", include(routed(*TRAINING))),
    ci_path(r"^customvision/v3\.[01]/prediction/", include(routed(*PREDICTION))),
    ci_path(r"^customvision(?:/|$)", not_found),
]
