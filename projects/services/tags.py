"""Tag services: names unique per project ignoring case; Negative only in classification."""

from __future__ import annotations

from django.conf import settings
from django.db import IntegrityError, transaction

from projects import errors
from projects.models import Project, Tag
from projects.services.base import clean_name
from workspaces import audit


def tag_create(*, project: Project, name: str, description: str = "", type: str = "Regular") -> Tag:  # noqa: A002
    """Create a tag; names are unique per project ignoring case; Negative only in classification projects."""
    name = clean_name(name, errors.TagNameInvalid, "tag")
    _check_tag_type(project=project, type=type)
    if Tag.objects.filter(project=project, name__iexact=name).exists():
        raise errors.TagNameNotUnique(f"A tag named {name!r} already exists in this project.")
    with transaction.atomic():
        _check_tag_limit(project=project)
        try:
            with transaction.atomic():
                tag = Tag.objects.create(project=project, name=name, description=description or "", type=type)
        except IntegrityError as exc:  # a concurrent create won the race for the same name
            raise errors.TagNameNotUnique(f"A tag named {name!r} already exists in this project.") from exc
        audit.record(workspace_id=project.workspace_id, action="tag.create", project=project, tag=name)
    return tag


def _check_tag_limit(*, project: Project) -> None:
    """Refuse a tag over TAGSIGHT_MAX_TAGS_PER_PROJECT; counted with the project row locked (PostgreSQL; SQLite's
    IMMEDIATE transactions serialise writers anyway), so two concurrent creates cannot both take the last place."""
    limit = settings.TAGSIGHT_MAX_TAGS_PER_PROJECT
    if limit <= 0:
        return
    Project.objects.select_for_update().filter(pk=project.pk).first()
    if Tag.objects.filter(project=project).count() >= limit:
        raise errors.TagLimitExceeded(
            f"This project has reached its limit of {limit} tags. Delete a tag you no longer use before "
            "creating another."
        )


def _check_tag_type(*, project: Project, type: str) -> None:  # noqa: A002
    if type not in Tag.TagType.values:
        raise errors.TagTypeInvalid(f"Unknown tag type {type!r}.")
    if type == Tag.TagType.NEGATIVE:
        if project.is_detection:
            raise errors.TagTypeInvalid("Negative tags exist only in classification projects.")
        if project.tags.filter(type=Tag.TagType.NEGATIVE).exists():
            raise errors.TagTypeInvalid("This project already has a Negative tag.")


def tag_update(*, tag: Tag, name: str | None = None, description: str | None = None, type: str | None = None) -> Tag:  # noqa: A002
    """Rename a tag, or change its description or type."""
    was = {"name": tag.name, "description": tag.description, "type": tag.type}
    if name is not None:
        name = clean_name(name, errors.TagNameInvalid, "tag")
        if Tag.objects.filter(project_id=tag.project_id, name__iexact=name).exclude(pk=tag.pk).exists():
            raise errors.TagNameNotUnique(f"A tag named {name!r} already exists in this project.")
        tag.name = name
    if description is not None:
        tag.description = description
    if type is not None and type != tag.type:
        _check_tag_type(project=tag.project, type=type)
        tag.type = type
    with transaction.atomic():
        try:
            with transaction.atomic():
                tag.save()
        except IntegrityError as exc:
            raise errors.TagNameNotUnique(f"A tag named {tag.name!r} already exists in this project.") from exc
        _record_update(tag=tag, was=was)  # outside the try: a failing entry is not a duplicate name
    return tag


def _record_update(*, tag: Tag, was: dict[str, str]) -> None:
    """A rename is its own action (the log reads "old → new"); other changes name the fields changed."""
    project = tag.project
    if tag.name != was["name"]:
        audit.record(workspace_id=project.workspace_id, action="tag.rename", project=project, tag=tag.name,
                     was=was["name"])
    fields = [field for field in ("description", "type") if getattr(tag, field) != was[field]]
    if fields:
        audit.record(workspace_id=project.workspace_id, action="tag.update", project=project, tag=tag.name,
                     fields=", ".join(fields))


def tag_delete(*, tag: Tag) -> None:
    """Delete a tag; its images stay (untagged if it was their only tag) and its regions go."""
    project = tag.project
    with transaction.atomic():
        tag.delete()
        audit.record(workspace_id=project.workspace_id, action="tag.delete", project=project, tag=tag.name)
