"""Project services: create, update, move between workspaces, delete (with its media)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import transaction

from projects import errors
from projects.domains import DEFAULT_CLASSIFICATION_DOMAIN, DEFAULT_DETECTION_DOMAIN, DOMAINS_BY_ID, OBJECT_DETECTION
from projects.models import DEFAULT_MAX_DETECTIONS, MAX_DETECTIONS_LIMIT, Project, Tag
from projects.services.base import clean_name
from projects.storage import storage_delete_tree
from workspaces import audit
from workspaces.access import Need, can
from workspaces.models import Workspace
from workspaces.services import personal_workspace_ensure


def _domain_for(project_type: str | None, domain_id: UUID | str | None) -> tuple[str, UUID]:
    """Resolve (project_type, domain_id); the domain decides the type, as in Azure."""
    if project_type is not None and project_type not in Project.ProjectType.values:
        raise errors.ProjectsError(f"Unknown project type {project_type!r}.")
    if domain_id in (None, ""):
        is_detection = project_type == Project.ProjectType.DETECTION
        default_domain = DEFAULT_DETECTION_DOMAIN if is_detection else DEFAULT_CLASSIFICATION_DOMAIN
        return (project_type or "classification", default_domain)
    try:
        domain = DOMAINS_BY_ID[domain_id if isinstance(domain_id, UUID) else UUID(str(domain_id))]
    except (KeyError, ValueError) as exc:
        raise errors.UnknownDomain(f"Unknown domain {domain_id}.") from exc
    domain_type = (
        Project.ProjectType.DETECTION if domain.type == OBJECT_DETECTION else Project.ProjectType.CLASSIFICATION
    )
    if project_type is not None and project_type != domain_type:
        raise errors.UnknownDomain(f"Domain {domain.name!r} is not a {Project.ProjectType(project_type).label} domain.")
    return domain_type, domain.id


def project_create(
    *,
    created_by: Any = None,
    workspace: Any = None,
    name: str,
    description: str = "",
    project_type: str | None = None,
    classification_type: str = "Multiclass",
    domain_id: UUID | str | None = None,
    max_detections: int | None = None,
    id: UUID | None = None,  # noqa: A002
) -> Project:
    """Create a project in ``workspace`` (default: the creator's personal one). The domain decides the project
    type; without one, the type's General domain. ``id``: a chosen id (an import writes its files there first)."""
    if workspace is None:
        if created_by is None:
            raise TypeError("project_create() needs a workspace or a creator")
        workspace = personal_workspace_ensure(user=created_by)
    name = clean_name(name, errors.ProjectNameInvalid, "project")
    project_type, resolved_domain = _domain_for(project_type, domain_id)
    if classification_type not in Project.ClassificationType.values:
        raise errors.UnknownClassificationType(f"Unknown classification type {classification_type!r}.")
    workspace_id = getattr(workspace, "pk", workspace)
    with transaction.atomic():
        _check_project_limit(workspace_id=workspace_id)
        project = Project.objects.create(
            **({"id": id} if id is not None else {}),
            workspace_id=workspace_id,
            created_by=created_by,
            name=name,
            description=description or "",
            project_type=project_type,
            classification_type=classification_type,
            domain_id=resolved_domain,
            max_detections=_max_detections(max_detections),
        )
        audit.record(workspace_id=project.workspace_id, action="project.create", project=project)
    return project


def _check_project_limit(*, workspace_id: Any) -> None:
    """Refuse a project over TAGSIGHT_MAX_PROJECTS_PER_WORKSPACE (Azure: projects per resource); counted with the
    workspace row locked, so two concurrent creates cannot both take the last place."""
    limit = settings.TAGSIGHT_MAX_PROJECTS_PER_WORKSPACE
    if limit <= 0:
        return
    workspace = Workspace.objects.select_for_update().filter(pk=workspace_id).first()
    if Project.objects.filter(workspace_id=workspace_id).count() >= limit:
        name = f"Workspace “{workspace.name}”" if workspace is not None else "This workspace"
        raise errors.ProjectLimitExceeded(
            f"{name} has reached its limit of {limit} projects. Delete a project you no longer need, or move one "
            "to another workspace, before adding another."
        )


def _max_detections(value: Any) -> int:
    """The "max detections" setting checked: a whole number 1..MAX_DETECTIONS_LIMIT (None: the default)."""
    if value is None or value == "":
        return DEFAULT_MAX_DETECTIONS
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_DETECTIONS_LIMIT:
        raise errors.MaxDetectionsInvalid(
            f"Max detections must be a whole number from 1 to {MAX_DETECTIONS_LIMIT}; got {value!r}."
        )
    return value


_PROJECT_FIELDS = {"name", "description", "classification_type", "domain_id", "project_type", "max_detections"}


def project_update(*, project: Project, **fields: Any) -> Project:
    """Change name, description, classification type, domain (a domain of another type changes the type) or
    max detections (None or absent: unchanged)."""
    unknown = set(fields) - _PROJECT_FIELDS
    if unknown:
        raise TypeError(f"project_update() got unexpected fields {sorted(unknown)}")
    was = {field: getattr(project, field) for field in _PROJECT_FIELDS}
    max_detections = _max_detections(fields.get("max_detections"))  # checked before anything changes
    if "name" in fields:
        project.name = clean_name(fields["name"], errors.ProjectNameInvalid, "project")
    if "description" in fields:
        project.description = fields["description"] or ""
    if "classification_type" in fields:
        if fields["classification_type"] not in Project.ClassificationType.values:
            raise errors.UnknownClassificationType(f"Unknown classification type {fields['classification_type']!r}.")
        project.classification_type = fields["classification_type"]
    if "domain_id" in fields or "project_type" in fields:
        project_type, domain_id = _domain_for(fields.get("project_type"), fields.get("domain_id", project.domain_id))
        if project_type == Project.ProjectType.DETECTION and project.tags.filter(type=Tag.TagType.NEGATIVE).exists():
            raise errors.TagTypeInvalid("Remove the Negative tag first: detection projects have no Negative tag.")
        project.project_type, project.domain_id = project_type, domain_id
    if fields.get("max_detections") is not None:
        project.max_detections = max_detections
    changed = sorted(field.removesuffix("_id").replace("_", " ") for field in _PROJECT_FIELDS - {"name"}
                     if getattr(project, field) != was[field])
    with transaction.atomic():
        project.save()
        if project.name != was["name"]:  # its own action, as for tags: the log reads "old → new"
            audit.record(workspace_id=project.workspace_id, action="project.rename", project=project,
                         name=project.name, was=was["name"])
        if changed:
            audit.record(workspace_id=project.workspace_id, action="project.update", project=project,
                         fields=", ".join(changed))
    return project


def project_move(*, project: Project, workspace: Workspace, by: Any) -> Project:
    """Move the project, everything in it, to another workspace; ``by`` must be an Owner of both.

    Nothing stops, as when an Azure project is moved between resources: a training in progress finishes
    in the new workspace, and a published iteration keeps its prediction URL (it names the project and the
    publish name, not the workspace). What changes is who reaches it: the members of the new workspace, and
    its keys; apps must use the new workspace's Prediction key. Logged in both workspaces."""
    if not (can(by, project.workspace_id, Need.OWN) and can(by, workspace.pk, Need.OWN)):
        raise errors.ProjectsError("You can move a project only between two workspaces you own.",
                                   code="Forbidden", status=403)
    with transaction.atomic():
        project = Project.objects.select_for_update().select_related("workspace").get(pk=project.pk)
        source = project.workspace
        if source.pk == workspace.pk:
            raise errors.ProjectsError(f"The project is already in {workspace.name}.")
        _check_project_limit(workspace_id=workspace.pk)
        project.workspace = workspace
        project.save(update_fields=["workspace", "modified"])
        for side in (source, workspace):  # each workspace's log tells where the project went, or came from
            audit.record(workspace_id=side.pk, action="project.move", project=project,
                         from_workspace=source.name, to_workspace=workspace.name)
    return project


# What may stop a project's deletion is owned by the apps above (training: a published iteration); each adds
# its check in AppConfig.ready. A check raises a ProjectsError saying what to do first.
_delete_checks: list[Callable[..., None]] = []


def project_delete_check_add(check: Callable[..., None]) -> None:
    """Run ``check(project=...)`` before every project deletion (idempotent)."""
    if check not in _delete_checks:
        _delete_checks.append(check)


def project_delete_check(*, project: Project) -> None:
    """Raise a ProjectsError if the project cannot be deleted now (the confirmation page shows why)."""
    for check in _delete_checks:
        check(project=project)


def project_delete(*, project: Project) -> None:
    """Delete the project, its rows, and (once the deletion commits) every file under its media folder."""
    prefix = f"projects/{project.id}"
    with transaction.atomic():
        project = Project.objects.select_for_update().get(pk=project.pk)  # no publish slips in between
        project_delete_check(project=project)
        audit.record(workspace_id=project.workspace_id, action="project.delete", project=project)
        project.delete()
        transaction.on_commit(lambda: storage_delete_tree(prefix))
