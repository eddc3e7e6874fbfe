"""URLs of the Custom Vision import pages (included by datasets.urls)."""

from __future__ import annotations

from django.urls import path

from datasets.customvision import views

urlpatterns = [
    path("import/customvision/", views.import_connect, name="customvision-connect"),
    path("import/customvision/<uuid:import_id>/", views.import_detail, name="customvision-import"),
]
