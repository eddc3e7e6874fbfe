"""Tags and images "as an iteration was trained" (Azure's ``iterationId`` on tag and image reads).

An iteration freezes its tags and labelled images when it is queued (``training.services.snapshot``). The
projects API answers ``iterationId`` from that frozen data, but ``projects`` sits below ``training`` and may
not import it: ``training`` registers the reader here from its AppConfig.ready
(:func:`iteration_data_reader_set`), and the projects API asks :func:`iteration_data`. The data crosses as the
plain values below, so nothing here knows how an iteration stores it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from projects.models import Project


@dataclass(frozen=True)
class TrainedTag:
    id: uuid.UUID
    name: str
    type: str
    description: str
    image_count: int


@dataclass(frozen=True)
class TrainedImage:
    id: uuid.UUID
    tag_ids: tuple[uuid.UUID, ...]
    regions: tuple[dict[str, Any], ...] = ()  # {"tag": UUID, "left", "top", "width", "height"}


@dataclass(frozen=True)
class IterationData:
    """One iteration's tags (by name) and images, as trained."""

    tags: tuple[TrainedTag, ...]
    images: dict[uuid.UUID, TrainedImage] = field(default_factory=dict)

    def tag(self, tag_id: uuid.UUID) -> TrainedTag | None:
        return next((t for t in self.tags if t.id == tag_id), None)

    def tag_names(self) -> dict[uuid.UUID, str]:
        return {t.id: t.name for t in self.tags}

    def image_ids(self, *, tagged: bool | None = None, tag_ids: Iterable[uuid.UUID] = ()) -> list[uuid.UUID]:
        """Ids of the trained images, filtered like ``projects.selectors.image_list`` (``tag_ids``: any of them)."""
        wanted = set(tag_ids)
        out = []
        for image in self.images.values():
            if wanted and not wanted.intersection(image.tag_ids):
                continue
            if not wanted and tagged is True and not image.tag_ids:
                continue
            if tagged is False and image.tag_ids:
                continue
            out.append(image.id)
        return out


IterationDataReader = Callable[..., IterationData | None]
_reader: list[IterationDataReader] = []


def iteration_data_reader_set(reader: IterationDataReader) -> None:
    """Install ``reader(*, project, iteration_id) -> IterationData | None`` (None: no such iteration)."""
    _reader[:] = [reader]


def iteration_data(*, project: Project, iteration_id: uuid.UUID) -> IterationData | None:
    """The iteration's data as trained, or None when the project has no such iteration."""
    if not _reader:
        raise RuntimeError("No iteration data reader is installed (training's AppConfig.ready installs it).")
    return _reader[0](project=project, iteration_id=iteration_id)
