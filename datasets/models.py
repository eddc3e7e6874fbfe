"""The datasets app's models live with their subpackage; Django finds them here."""

from __future__ import annotations

from datasets.customvision.models import ImportedItem, ImportJob

__all__ = ["ImportJob", "ImportedItem"]
