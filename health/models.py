"""Models of the health app, one module per feature (imported here so Django finds them)."""

from __future__ import annotations

from health.datahealth_models import DataHealthFinding, DataHealthRun
from health.suggestions_models import Suggestion, SuggestionRun

__all__ = ["DataHealthFinding", "DataHealthRun", "Suggestion", "SuggestionRun"]
