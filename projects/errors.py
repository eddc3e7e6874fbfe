"""Domain errors of the projects app, carrying Azure's CustomVisionErrorCodes and an HTTP status."""

from __future__ import annotations


class ProjectsError(Exception):
    """Base for projects-domain failures; views show ``message``, the API sends ``code`` with ``status``."""

    code = "BadRequest"
    status = 400

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status


class ProjectNameInvalid(ProjectsError):
    code = "BadRequestProjectName"


class UnknownDomain(ProjectsError):
    code = "BadRequestProjectUnknownDomain"


class UnknownClassificationType(ProjectsError):
    code = "BadRequestProjectUnknownClassification"


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
