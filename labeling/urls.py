"""URLs of the labeling screens (all under an image, or a region, of the signed-in user)."""

from __future__ import annotations

from django.urls import path

from labeling import views

app_name = "labeling"
urlpatterns = [
    path("images/<uuid:image_id>/label/", views.labeler, name="labeler"),
    path("images/<uuid:image_id>/label/regions/", views.region_list, name="region-list"),
    path("images/<uuid:image_id>/label/proposals/", views.region_proposals, name="region-proposals"),
    path("images/<uuid:image_id>/label/regions/create", views.region_create, name="region-create"),
    path("images/<uuid:image_id>/label/tags/create", views.tag_create, name="tag-create"),
    path("images/<uuid:image_id>/label/tags/set", views.tag_set, name="tag-set"),
    path("label/regions/<uuid:region_id>/update", views.region_update, name="region-update"),
    path("label/regions/<uuid:region_id>/delete", views.region_delete, name="region-delete"),
]
