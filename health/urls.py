"""URLs of the Smart Labeler and Data Health pages."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from health import datahealth_views, suggestions_views

app_name = "health"
urlpatterns: list[URLPattern | URLResolver] = [
    path("projects/<uuid:project_id>/suggestions/", suggestions_views.suggestions, name="suggestions"),
    path("projects/<uuid:project_id>/suggestions/run", suggestions_views.suggestions_run, name="suggestions-run"),
    path("projects/<uuid:project_id>/suggestions/confirm", suggestions_views.suggestions_confirm,
         name="suggestions-confirm"),
    path("projects/<uuid:project_id>/health/", datahealth_views.datahealth_page, name="datahealth"),
    path("projects/<uuid:project_id>/health/check", datahealth_views.datahealth_check, name="datahealth-check"),
    path("projects/<uuid:project_id>/health/keep-one", datahealth_views.datahealth_keep_one,
         name="datahealth-keep-one"),
    path("projects/<uuid:project_id>/health/fix-tag", datahealth_views.datahealth_fix_tag,
         name="datahealth-fix-tag"),
]
