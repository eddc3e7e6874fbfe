"""Domain errors of the projects app, carrying Azure's CustomVisionErrorCodes and an HTTP status."""

from __future__ import annotations

from workspaces.errors import WorkspaceError


class ProjectsError(WorkspaceError):
    """Base for projects-domain failures; views show ``message``, the API sends ``code`` with ``status``."""


class ProjectNameInvalid(ProjectsError):
    code = "BadRequestProjectName"


class UnknownDomain(ProjectsError):
    code = "BadRequestProjectUnknownDomain"


class UnknownClassificationType(ProjectsError):
    code = "BadRequestProjectUnknownClassification"


class MaxDetectionsInvalid(ProjectsError):
    """The project's "max detections" setting is not a whole number from 1 to MAX_DETECTIONS_LIMIT."""

    code = "BadRequest"


class TagNameInvalid(ProjectsError):
    code = "BadRequestTagName"


class TagNameNotUnique(ProjectsError):
    code = "BadRequestTagNameNotUnique"


class TagTypeInvalid(ProjectsError):
    """Negative tags exist only in classification projects (Azure's rule)."""

    code = "BadRequest"


class NegativeAndRegularTagOnSameImage(ProjectsError):
    code = "ErrorNegativeAndRegularTagOnSameImage"


class InvalidIds(ProjectsError):
    """Some ids do not name an image or tag of this project."""

    code = "BadRequestInvalidIds"


class InvalidMetadata(ProjectsError):
    code = "BadRequestImageMetadataKey"


class ProjectLimitExceeded(ProjectsError):
    """The workspace holds TAGSIGHT_MAX_PROJECTS_PER_WORKSPACE projects (Azure: projects per resource)."""

    code = "BadRequestExceedProjectLimit"


class TagLimitExceeded(ProjectsError):
    """The project holds TAGSIGHT_MAX_TAGS_PER_PROJECT tags."""

    code = "BadRequestExceedTagPerProjectLimit"
