"""Labeling domain errors; ``code`` is Azure's CustomVisionErrorCodes value, ``status`` the HTTP status at the edge."""

from __future__ import annotations

from projects.errors import ProjectsError


class LabelingError(ProjectsError):
    """Base for labeling failures (a ProjectsError, so the edges translate one base class)."""


class InvalidRegion(LabelingError):
    """Coordinates outside [0, 1], of zero size, not numbers, or a tag a region can't carry."""

    code = "BadRequestImageRegions"


class RegionLimitExceeded(LabelingError):
    code = "ErrorRegionLimitExceed"


class NotFoundTag(LabelingError):
    """Unknown tag, or a tag of another project (indistinguishable on purpose)."""

    code = "NotFoundTag"
    status = 404


class NotFoundImage(LabelingError):
    code = "NotFoundImage"
    status = 404
