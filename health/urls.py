"""URLs of the Smart Labeler and Data Health pages."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver

app_name = "health"
urlpatterns: list[URLPattern | URLResolver] = []
