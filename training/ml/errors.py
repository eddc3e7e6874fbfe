"""Engine errors with stable codes (Azure CustomVisionErrorCodes where one fits)."""

from __future__ import annotations


class MLError(Exception):
    """Base for every failure the engine reports on purpose. ``code`` is stable."""

    code = "ErrorTraining"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code:
            self.code = code


class EmptyManifest(MLError):
    code = "BadRequestTrainingNotNeeded"  # nothing to train on


class NotEnoughTags(MLError):
    code = "BadRequestNotEnoughTags"  # classification needs >= 2 tags (or 1 + negative)


class NotEnoughImagesPerTag(MLError):
    code = "BadRequestNotEnoughImagesPerTag"


class UnreadableImage(MLError):
    code = "BadRequestImageFormat"


class InvalidRegion(MLError):
    code = "BadRequestInvalidRegion"  # box outside the image or of zero size


class Cancelled(MLError):
    code = "TrainingCancelled"


class ModelUnavailable(MLError):
    """The model cannot be loaded in this process (a detector from before decode.onnx, on a web tier installed
    without the worker's packages)."""

    code = "ErrorPredictionModelNotFound"
