"""Write-side operations on projects, tags and images (keyword-only; raise projects.errors, never HTTP).

One module per resource; import from here: ``from projects.services import image_upload``.
"""

from __future__ import annotations

from projects.services.images import (
    UploadResult,
    image_upload,
    images_delete,
    images_metadata_update,
    images_tag,
    images_tag_set,
    images_untag,
    metadata_clean,
)
from projects.services.projects import (
    project_create,
    project_delete,
    project_delete_check,
    project_delete_check_add,
    project_move,
    project_update,
)
from projects.services.tags import tag_create, tag_delete, tag_update

__all__ = [
    "UploadResult",
    "image_upload",
    "images_delete",
    "images_metadata_update",
    "images_tag",
    "images_tag_set",
    "images_untag",
    "metadata_clean",
    "project_create",
    "project_delete",
    "project_delete_check",
    "project_delete_check_add",
    "project_move",
    "project_update",
    "tag_create",
    "tag_delete",
    "tag_update",
]
