"""URLs of the projects pages: projects, the Training images workspace, tags, upload, images and their files."""

from __future__ import annotations

from django.urls import path

from projects import views

app_name = "projects"
urlpatterns = [
    path("", views.project_list, name="project-list"),
    path("projects/new", views.project_create, name="project-create"),
    path("projects/<uuid:project_id>/", views.project_detail, name="project-detail"),
    path("projects/<uuid:project_id>/edit", views.project_edit, name="project-edit"),
    path("projects/<uuid:project_id>/delete", views.project_delete, name="project-delete"),
    path("projects/<uuid:project_id>/move", views.project_move, name="project-move"),
    path("projects/<uuid:project_id>/upload", views.image_upload, name="image-upload"),
    path("projects/<uuid:project_id>/images/action", views.images_action, name="images-action"),
    path("projects/<uuid:project_id>/tags/new", views.tag_create, name="tag-create"),
    path("projects/<uuid:project_id>/tags/<uuid:tag_id>/edit", views.tag_edit, name="tag-edit"),
    path("projects/<uuid:project_id>/tags/<uuid:tag_id>/delete", views.tag_delete, name="tag-delete"),
    path("images/<uuid:image_id>/", views.image_detail, name="image-detail"),
    path("images/<uuid:image_id>/tags", views.image_tags, name="image-tags"),
    path("media/images/<uuid:image_id>/<str:kind>", views.image_file, name="image-file"),
]
