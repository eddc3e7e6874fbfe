"""URLs of the training app."""

from __future__ import annotations

from django.urls import path  # noqa: F401

app_name = "training"
urlpatterns: list = []
