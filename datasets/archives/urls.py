"""URLs of project archives (included by datasets/urls.py)."""

from __future__ import annotations

from django.urls import path

from datasets.archives import views

urlpatterns = [
    path("projects/<uuid:project_id>/archive", views.archive_export, name="archive-export"),
    path("projects/import", views.archive_import_view, name="archive-import"),
    path("projects/import/<uuid:archive_import_id>", views.archive_import_status, name="archive-import-status"),
]
