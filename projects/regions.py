"""The seam through which an image's regions reach labeling, which owns them (projects never imports labeling).

labeling registers its functions once, in LabelingConfig.ready(). image_upload checks an upload's regions with
them before anything is stored and writes them in the upload's transaction; images_untag drops the regions of
the tags it removes. So the labeler, the regions API and uploads with regions obey one validator: labeling's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

from django.core.exceptions import ImproperlyConfigured

from projects.models import Image, Project


class CheckedRegion(Protocol):
    @property
    def tag_id(self) -> UUID: ...


class RegionsCheck(Protocol):
    def __call__(self, *, project: Project, regions: Sequence[Mapping[str, Any]]) -> Sequence[CheckedRegion]:
        """Validate an upload's regions, all or none; raise a ProjectsError (code: Azure's) for the first bad one."""


class RegionsWrite(Protocol):
    def __call__(self, *, image: Image, regions: Sequence[Any]) -> None:
        """Store checked regions on a new image (runs inside the upload's transaction)."""


class RegionsUntag(Protocol):
    def __call__(self, *, image_ids: Iterable[UUID], tag_ids: Iterable[UUID]) -> None:
        """The images lost these tags: drop their regions that carry them."""


@dataclass(frozen=True)
class RegionHooks:
    check: RegionsCheck
    write: RegionsWrite
    untag: RegionsUntag


_hooks: RegionHooks | None = None


def region_hooks_register(hooks: RegionHooks) -> None:
    global _hooks
    _hooks = hooks


def region_hooks() -> RegionHooks:
    if _hooks is None:
        raise ImproperlyConfigured("No region hooks registered: 'labeling' must be in INSTALLED_APPS.")
    return _hooks
