"""URLs of the datasets pages: each subpackage brings its own."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver

from datasets.archives.urls import urlpatterns as archive_urls
from datasets.customvision.urls import urlpatterns as customvision_urls
from datasets.formats.urls import urlpatterns as formats_urls

app_name = "datasets"
urlpatterns: list[URLPattern | URLResolver] = [*customvision_urls, *archive_urls, *formats_urls]
