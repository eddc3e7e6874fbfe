"""URLs of the Smart Labeler and Data Health pages."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from health import suggestions_views

app_name = "health"
urlpatterns: list[URLPattern | URLResolver] = [
    path("projects/<uuid:project_id>/suggestions/", suggestions_views.suggestions, name="suggestions"),
    path("projects/<uuid:project_id>/suggestions/run", suggestions_views.suggestions_run, name="suggestions-run"),
    path("projects/<uuid:project_id>/suggestions/confirm", suggestions_views.suggestions_confirm,
         name="suggestions-confirm"),
]
