"""Training-domain errors: each carries Azure's CustomVisionErrorCodes ``code`` and an HTTP ``status``."""

from __future__ import annotations

from projects.errors import ProjectsError


class TrainingError(ProjectsError):
    """Base for training-domain failures (a ProjectsError, so the edges translate one base class)."""


class TrainingValidationFailed(TrainingError):
    """The dataset does not meet the minimums (tags, images per tag, boxes per tag)."""

    code = "BadRequestTrainingValidationFailed"


class ClassificationTrainingValidationFailed(TrainingValidationFailed):
    code = "BadRequestClassificationTrainingValidationFailed"


class MultiClassTrainingValidationFailed(TrainingValidationFailed):
    code = "BadRequestMultiClassClassificationTrainingValidationFailed"


class DetectionTrainingValidationFailed(TrainingValidationFailed):
    code = "BadRequestDetectionTrainingValidationFailed"


class TrainingNotNeeded(TrainingError):
    code = "BadRequestTrainingNotNeeded"


class TrainingAlreadyInProgress(TrainingError):
    code = "BadRequestTrainingAlreadyInProgress"
    status = 409


class IterationIsPublished(TrainingError):
    code = "BadRequestIterationIsPublished"


class IterationNotPublished(TrainingError):
    code = "BadRequestIterationNotPublished"


class IterationNotCompleted(TrainingError):
    code = "BadRequestIterationIsNotTrained"


class InvalidPublishName(TrainingError):
    code = "BadRequestInvalidPublishName"


class IterationNameInvalid(TrainingError):
    code = "BadRequestIterationName"


class IterationNameNotUnique(TrainingError):
    code = "BadRequestIterationNameNotUnique"


class UnknownSelectedTags(TrainingError):
    """selectedTags names a tag that is not in the project."""

    code = "BadRequestInvalidIds"


class InvalidEmailAddress(TrainingError):
    code = "BadRequestInvalidEmailAddress"


class ImageRetagNotForDetection(TrainingError):
    """Image-level retagging would drop a detection image's boxes; boxes are fixed in the labeler."""

    code = "BadRequestNotSupported"


class InvalidTrainingBudget(TrainingError):
    code = "BadRequestReservedBudgetInHoursNotEnoughForAdvancedTraining"


class IterationLimitExceeded(TrainingError):
    """The project keeps TAGSIGHT_MAX_ITERATIONS_PER_PROJECT iterations: Azure refuses to train another."""

    code = "BadRequestExceedIterationPerProjectLimit"
