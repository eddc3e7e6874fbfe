"""URLs of the datasets pages: each subpackage brings its own."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from datasets.formats import views as formats

app_name = "datasets"
urlpatterns: list[URLPattern | URLResolver] = [
    path("projects/<uuid:project_id>/dataset/import", formats.dataset_import, name="formats-import"),
    path("projects/<uuid:project_id>/dataset/import/confirm", formats.dataset_import_confirm,
         name="formats-import-confirm"),
    path("projects/<uuid:project_id>/dataset/export", formats.dataset_export, name="formats-export"),
]
