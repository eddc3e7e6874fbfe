"""URLs of the dataset formats pages (import a zip with a preview, export a zip)."""

from __future__ import annotations

from django.urls import path

from datasets.formats import views

urlpatterns = [
    path("projects/<uuid:project_id>/dataset/import", views.dataset_import, name="formats-import"),
    path("projects/<uuid:project_id>/dataset/import/confirm", views.dataset_import_confirm,
         name="formats-import-confirm"),
    path("projects/<uuid:project_id>/dataset/export", views.dataset_export, name="formats-export"),
]
