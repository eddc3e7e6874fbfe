"""The neutral in-memory dataset every format reads into and writes from, and the problems found on the way.

Boxes are normalised left/top/width/height in [0, 1] as Azure stores them, in the frame the user sees: the image
after its EXIF orientation is applied (what uploads store, see projects.images). No Django here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from training.ml.manifest import Box  # the one normalised box (training/ml is plain Python, no Django)

ERROR = "error"
WARNING = "warning"


@dataclass
class Item:
    """One image of a dataset: its name in the archive, bytes, displayed size, tags and (detection) boxes."""

    name: str
    data: bytes
    width: int = 0
    height: int = 0
    orientation: int = 1  # the EXIF orientation its file carries (1: none); width/height are as displayed
    tags: list[str] = field(default_factory=list)
    boxes: list[Box] = field(default_factory=list)
    loader: Callable[[], bytes] | None = None  # exports read each stored image only when it is written

    def content(self) -> bytes:
        return self.loader() if self.loader is not None else self.data

    def tag_names(self) -> list[str]:
        """Image tags plus the tags of its boxes, each once, in order of appearance."""
        return list(dict.fromkeys([*self.tags, *(b.tag for b in self.boxes)]))


@dataclass
class Dataset:
    """``detection``: boxes carry the tags; otherwise image-level tags (classification)."""

    detection: bool
    items: list[Item] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)  # every tag the file declares, in its order (may be unused)

    def all_tags(self) -> list[str]:
        used = [t for item in self.items for t in item.tag_names()]
        return list(dict.fromkeys([*self.tags, *used]))


@dataclass(frozen=True)
class Problem:
    """One line of the preview: ``level`` error (nothing can be imported) or warning (what will be done)."""

    level: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message


class Problems(list[Problem]):
    def error(self, where: str, message: str) -> None:
        self.append(Problem(ERROR, where, message))

    def warning(self, where: str, message: str) -> None:
        self.append(Problem(WARNING, where, message))

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self if p.level == ERROR]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self if p.level == WARNING]


class FormatError(Exception):
    """The archive cannot be read at all (not a zip, no annotation file, ...): one message for the user."""
