"""Azure Custom Vision routes: /customvision/{v3.0..v3.4-preview}/training/..., /customvision/{v3.0|v3.1}/prediction/...

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
from django.urls.conf import _path
from django.urls.resolvers import LocaleRegexDescriptor, RegexPattern
from django.views.decorators.csrf import csrf_exempt

from labeling import api as labeling_api
from portal.azure.auth import methods
from portal.azure.errors import error_response
from portal.azure.media import media
from portal.azure.openapi import openapi_json
from predictions import api as prediction_api
from projects import api as projects_api
from projects import api_images as images_api
from training import api as training_api

ID = r"(?P<{}>[^/]+)"
P = ID.format("project_id")


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


def r(pattern: str, view: Any, name: str | None = None) -> Any:
    return ci_path(rf"^{pattern}$", view, name=name)


@csrf_exempt
def not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    return error_response("NotFound", f"No Custom Vision operation at {request.path}.", 404)


training_patterns = [
    r("domains", methods(GET=projects_api.get_domains), "azure-domains"),
    r(rf"domains/{ID.format('domain_id')}", methods(GET=projects_api.get_domain)),
    r("projects", methods(GET=projects_api.get_projects, POST=projects_api.create_project), "azure-projects"),
    r("projects/import", methods(POST=projects_api.import_project)),
    r(
        rf"projects/{P}",
        methods(GET=projects_api.get_project, PATCH=projects_api.update_project, DELETE=projects_api.delete_project),
        "azure-project",
    ),
    r(rf"projects/{P}/artifacts", methods(GET=training_api.get_artifact)),
    r(rf"projects/{P}/export", methods(GET=projects_api.export_project)),
    r(
        rf"projects/{P}/images",
        methods(GET=images_api.get_images, POST=images_api.create_images_from_data, DELETE=images_api.delete_images),
    ),
    r(rf"projects/{P}/images/count", methods(GET=images_api.get_image_count)),
    r(rf"projects/{P}/images/id", methods(GET=images_api.get_images_by_ids)),
    r(rf"projects/{P}/images/files", methods(POST=images_api.create_images_from_files)),
    r(rf"projects/{P}/images/urls", methods(POST=images_api.create_images_from_urls)),
    r(rf"projects/{P}/images/predictions", methods(POST=prediction_api.create_images_from_predictions)),
    r(rf"projects/{P}/images/metadata", methods(POST=images_api.update_image_metadata)),
    r(
        rf"projects/{P}/images/regions",
        methods(POST=labeling_api.create_image_regions, DELETE=labeling_api.delete_image_regions),
    ),
    r(rf"projects/{P}/images/suggested", methods(POST=prediction_api.query_suggested_images)),
    r(rf"projects/{P}/images/suggested/count", methods(POST=prediction_api.query_suggested_image_count)),
    r(rf"projects/{P}/images/tagged", methods(GET=images_api.get_tagged_images)),
    r(rf"projects/{P}/images/tagged/count", methods(GET=images_api.get_tagged_image_count)),
    r(rf"projects/{P}/images/untagged", methods(GET=images_api.get_untagged_images)),
    r(rf"projects/{P}/images/untagged/count", methods(GET=images_api.get_untagged_image_count)),
    r(
        rf"projects/{P}/images/tags",
        methods(POST=images_api.create_image_tags, DELETE=images_api.delete_image_tags),
    ),
    r(
        rf"projects/{P}/images/{ID.format('image_id')}/regionproposals",
        methods(POST=labeling_api.get_image_region_proposals),
    ),
    r(rf"projects/{P}/iterations", methods(GET=training_api.get_iterations)),
    r(
        rf"projects/{P}/iterations/{ID.format('iteration_id')}",
        methods(
            GET=training_api.get_iteration, PATCH=training_api.update_iteration, DELETE=training_api.delete_iteration
        ),
    ),
    r(
        rf"projects/{P}/iterations/{ID.format('iteration_id')}/export",
        methods(GET=prediction_api.get_exports, POST=prediction_api.export_iteration),
    ),
    r(
        rf"projects/{P}/iterations/{ID.format('iteration_id')}/performance",
        methods(GET=training_api.get_iteration_performance),
    ),
    r(
        rf"projects/{P}/iterations/{ID.format('iteration_id')}/performance/images",
        methods(GET=training_api.get_image_performances),
    ),
    r(
        rf"projects/{P}/iterations/{ID.format('iteration_id')}/performance/images/count",
        methods(GET=training_api.get_image_performance_count),
    ),
    r(
        rf"projects/{P}/iterations/{ID.format('iteration_id')}/publish",
        methods(POST=training_api.publish_iteration, DELETE=training_api.unpublish_iteration),
    ),
    r(rf"projects/{P}/predictions", methods(DELETE=prediction_api.delete_prediction)),
    r(rf"projects/{P}/predictions/query", methods(POST=prediction_api.query_predictions)),
    r(rf"projects/{P}/quicktest/image", methods(POST=prediction_api.quick_test_image)),
    r(rf"projects/{P}/quicktest/url", methods(POST=prediction_api.quick_test_image_url)),
    r(rf"projects/{P}/tags", methods(GET=projects_api.get_tags, POST=projects_api.create_tag)),
    r(
        rf"projects/{P}/tags/{ID.format('tag_id')}",
        methods(GET=projects_api.get_tag, PATCH=projects_api.update_tag, DELETE=projects_api.delete_tag),
    ),
    r(rf"projects/{P}/tagsandregions/suggestions", methods(POST=prediction_api.suggest_tags_and_regions)),
    r(rf"projects/{P}/train", methods(POST=training_api.train_project)),
    re_path(r"", not_found),
]

_PUBLISHED = rf"{P}/(?P<task>classify|detect)/iterations/(?P<publish_name>[^/]+)"
prediction_patterns = [
    r(rf"{_PUBLISHED}/image", methods(POST=prediction_api.predict_image), "azure-predict-image"),
    r(rf"{_PUBLISHED}/image/nostore", methods(POST=prediction_api.predict_image_nostore)),
    r(rf"{_PUBLISHED}/url", methods(POST=prediction_api.predict_url)),
    r(rf"{_PUBLISHED}/url/nostore", methods(POST=prediction_api.predict_url_nostore)),
    re_path(r"", not_found),
]

urlpatterns = [
    ci_path(r"^customvision/openapi\.json$", openapi_json, name="azure-openapi"),
    re_path(r"^customvision/media/(?P<token>[A-Za-z0-9_:.\-]+)$", media, name="azure-media"),
    ci_path(r"^customvision/v3\.(?:[0-3]|4-preview)/training/", include(training_patterns)),
    ci_path(r"^customvision/v3\.[01]/prediction/", include(prediction_patterns)),
    ci_path(r"^customvision(?:/|$)", not_found),
]
