"""URLs of the datasets pages: each subpackage brings its own."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver

from datasets.archives.urls import urlpatterns as archive_urls

app_name = "datasets"
urlpatterns: list[URLPattern | URLResolver] = [*archive_urls]
