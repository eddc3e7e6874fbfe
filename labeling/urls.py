"""URLs of the labeling app."""

from __future__ import annotations

from django.urls import path  # noqa: F401

app_name = "labeling"
urlpatterns: list = []
