"""Models of the health app (each feature keeps its own module; Django finds them here)."""

from __future__ import annotations

from health.datahealth_models import DataHealthFinding, DataHealthRun

__all__ = ["DataHealthFinding", "DataHealthRun"]
