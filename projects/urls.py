"""URLs of the projects app (pages) and the account page."""

from __future__ import annotations

from django.urls import path

from projects import views

app_name = "projects"
urlpatterns = [
    path("", views.project_list, name="project-list"),
]
