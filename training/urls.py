"""URLs of the training app: train a project, its iterations, and each iteration's Performance tab."""

from __future__ import annotations

from django.urls import path

from training import views

app_name = "training"
urlpatterns = [
    path("projects/<uuid:project_id>/train", views.train, name="train"),
    path("projects/<uuid:project_id>/iterations/", views.iteration_list, name="iteration-list"),
    path("iterations/<uuid:iteration_id>/", views.iteration_detail, name="iteration-detail"),
    path("iterations/<uuid:iteration_id>/status", views.iteration_status, name="iteration-status"),
    path("iterations/<uuid:iteration_id>/performance", views.iteration_performance, name="iteration-performance"),
    path("iterations/<uuid:iteration_id>/cancel", views.iteration_cancel, name="iteration-cancel"),
    path("iterations/<uuid:iteration_id>/rename", views.iteration_rename, name="iteration-rename"),
    path("iterations/<uuid:iteration_id>/publish", views.iteration_publish, name="iteration-publish"),
    path("iterations/<uuid:iteration_id>/unpublish", views.iteration_unpublish, name="iteration-unpublish"),
    path("iterations/<uuid:iteration_id>/delete", views.iteration_delete, name="iteration-delete"),
    path("iterations/<uuid:iteration_id>/images", views.iteration_images, name="iteration-images"),
    path("iterations/<uuid:iteration_id>/errors", views.iteration_errors, name="iteration-errors"),
    path("iterations/<uuid:iteration_id>/retag", views.iteration_retag, name="iteration-retag"),
]
