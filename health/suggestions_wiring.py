"""The Smart Labeler's wiring, called from HealthConfig.ready(): its task, invalidation hooks, links and the
labeler's region proposals."""

from __future__ import annotations

from typing import Any


def _forget_region(sender: Any, instance: Any, **kwargs: Any) -> None:
    """An image's regions changed: its suggestions are answered (or must be asked again)."""
    from health.suggestions_models import Suggestion

    Suggestion.objects.filter(image_id=instance.image_id).delete()


def _forget_images(image_ids: list[Any]) -> None:
    """projects' tags-changed hook: the images were tagged or untagged (the portal's and the API's bulk paths)."""
    from health.suggestions_models import Suggestion

    Suggestion.objects.filter(image_id__in=image_ids).delete()


def _forget_tagged(sender: Any, instance: Any, action: str, reverse: bool, pk_set: Any, **kwargs: Any) -> None:
    if action not in ("post_add", "post_remove", "post_clear"):
        return
    from health.suggestions_models import Suggestion

    if reverse:  # tag.images.add(...): pk_set are images
        Suggestion.objects.filter(image_id__in=list(pk_set or ())).delete()
    else:
        Suggestion.objects.filter(image_id=instance.pk).delete()


def connect() -> None:
    from django.db.models.signals import m2m_changed, post_delete, post_save

    import health.suggestions_tasks  # noqa: F401  (registers the task with Celery)
    from health import suggestions_views
    from health.suggestions_proposals import proposals_for
    from labeling.models import Region
    from labeling.proposals import proposal_source_register
    from projects.models import Image
    from projects.services.images import image_tags_changed_hook_add
    from projects.views import images_toolbar_add

    post_save.connect(_forget_region, sender=Region, dispatch_uid="tagsight-suggestions-region-saved")
    post_delete.connect(_forget_region, sender=Region, dispatch_uid="tagsight-suggestions-region-deleted")
    m2m_changed.connect(_forget_tagged, sender=Image.tags.through, dispatch_uid="tagsight-suggestions-tags")
    image_tags_changed_hook_add(_forget_images)
    images_toolbar_add(suggestions_views.toolbar_link)
    proposal_source_register(proposals_for)
