"""Labeling domain errors; ``code`` is Azure's CustomVisionErrorCodes value, ``status`` the HTTP status at the edge."""

from __future__ import annotations


class LabelingError(Exception):
    """Base for labeling failures; views and the Azure API translate it once, at the edge."""

    code = "BadRequest"
    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


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


class NotFoundRegion(LabelingError):
    code = "NotFound"
    status = 404
