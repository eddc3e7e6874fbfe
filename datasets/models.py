"""The datasets app's models live with their subpackage; they are imported here so that Django finds them."""

from __future__ import annotations

from datasets.archives.models import ArchiveImport
from datasets.customvision.models import ImportedItem, ImportJob

__all__ = ["ArchiveImport", "ImportJob", "ImportedItem"]
