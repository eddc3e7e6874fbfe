"""URLs of Quick Test, the Predictions tab and exports."""

from __future__ import annotations

from django.urls import path

from predictions import views

app_name = "predictions"
urlpatterns = [
    path("projects/<uuid:project_id>/quicktest", views.quick_test, name="quick-test"),
    path("projects/<uuid:project_id>/predictions/", views.prediction_list, name="prediction-list"),
    path("projects/<uuid:project_id>/predictions/delete", views.predictions_delete, name="predictions-delete"),
    path("predictions/<uuid:prediction_id>/", views.prediction_detail, name="prediction-detail"),
    path("predictions/<uuid:prediction_id>/add", views.prediction_add, name="prediction-add"),
    path("predictions/<uuid:prediction_id>/delete", views.prediction_delete, name="prediction-delete"),
    path("predictions/<uuid:prediction_id>/file/<str:kind>", views.prediction_file, name="prediction-file"),
    path("iterations/<uuid:iteration_id>/export", views.iteration_export, name="iteration-export"),
    path("exports/<uuid:export_id>/download", views.export_download, name="export-download"),
]
