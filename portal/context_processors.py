"""Template context for every page: the limits the server enforces, read from settings and worded once."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from projects.images import megabytes


def limits(request: HttpRequest) -> dict[str, Any]:
    """``limits.image_size`` ("6 MB"), ``limits.image_side`` ("10,240 px"), ``limits.prediction_size`` ("4 MB")
    and the byte counts behind them, for the pages that state what an upload may be."""
    return {
        "limits": {
            "image_bytes": settings.TAGSIGHT_MAX_IMAGE_BYTES,
            "image_size": megabytes(settings.TAGSIGHT_MAX_IMAGE_BYTES),
            "image_side": f"{settings.TAGSIGHT_MAX_IMAGE_SIDE:,} px",
            "prediction_bytes": settings.TAGSIGHT_MAX_PREDICTION_BYTES,
            "prediction_size": megabytes(settings.TAGSIGHT_MAX_PREDICTION_BYTES),
        }
    }
