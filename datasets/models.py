"""The datasets app's models live with their subpackage; they are imported here so that Django finds them."""

from __future__ import annotations

from datasets.archives.models import ArchiveImport

__all__ = ["ArchiveImport"]
