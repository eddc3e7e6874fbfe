"""Region proposals for an image: boxes a person may accept in the labeler (and the API's regionproposals).

Labeling draws and stores regions but has no model: the source of proposals is registered by a higher app in
its AppConfig.ready (health's Smart Labeler). Without one, an image has no proposals.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from projects.models import Image


@dataclass(frozen=True)
class Proposal:
    """A class-agnostic box in normalised [0, 1] coordinates, with the confidence that it holds an object."""

    confidence: float
    left: float
    top: float
    width: float
    height: float

    def to_json(self) -> dict[str, object]:
        return {"confidence": self.confidence, "boundingBox": {"left": self.left, "top": self.top,
                                                                "width": self.width, "height": self.height}}


ProposalSource = Callable[[Image], list[Proposal]]
_source: ProposalSource | None = None


def proposal_source_register(source: ProposalSource) -> None:
    global _source
    _source = source


def proposals_for(*, image: Image) -> list[Proposal]:
    """The image's proposals, most confident first (none when no source is registered)."""
    return _source(image) if _source is not None else []
