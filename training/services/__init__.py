"""Write-side operations on iterations (keyword-only; raise training.errors, never HTTP).

One module per job; import from here: ``from training.services import iteration_queue``.
``queue`` → ``tasks`` is the one documented upward call (on commit, the Celery task is sent).
"""

from __future__ import annotations

from training.services.lifecycle import (
    image_retag,
    iteration_cancel,
    iteration_delete,
    iteration_finish,
    iteration_publish,
    iteration_rename,
    iteration_unpublish,
    project_check_unpublished,
)
from training.services.queue import iteration_queue
from training.services.reaper import iterations_reap_lost
from training.services.run import images_fetch, iteration_manifest, iteration_run

__all__ = [
    "image_retag",
    "images_fetch",
    "iteration_cancel",
    "iteration_delete",
    "iteration_finish",
    "iteration_manifest",
    "iteration_publish",
    "iteration_queue",
    "iteration_rename",
    "iteration_run",
    "iteration_unpublish",
    "iterations_reap_lost",
    "project_check_unpublished",
]
