"""The formats by name (what the commands and forms offer)."""

from __future__ import annotations

from types import ModuleType

from datasets.formats import coco, csvfile, folders, voc, yolo

FORMATS: dict[str, ModuleType] = {m.NAME: m for m in (coco, yolo, voc, csvfile, folders)}


def format_choices(*, detection: bool | None = None) -> list[tuple[str, str]]:
    """(name, label) of the formats, only those that fit a detection (or classification) project if given."""
    return [(name, m.LABEL) for name, m in FORMATS.items()
            if detection is None or m.DETECTION is None or m.DETECTION == detection]
