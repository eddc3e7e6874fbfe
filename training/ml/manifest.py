"""Manifest dataclasses: the only data contract between Django and the ML engine."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

Task = Literal["classification", "detection"]


@dataclass(frozen=True)
class Box:
    """A labelled box, normalised to [0, 1] like Custom Vision's Region (left/top = top-left corner)."""

    tag: str
    left: float
    top: float
    width: float
    height: float


@dataclass(frozen=True)
class Sample:
    """One image: a path on disk (absolute, or relative to the manifest) and its labels.

    ``id`` is stable across runs (Django uses the Image UUID; files use their relative path).
    ``sha256`` (optional) keys the embedding cache; it is computed from the bytes when missing.
    ``split`` is an optional fixed split ("train" / "test" / "val") given by the dataset.
    """

    id: str
    path: str
    tags: tuple[str, ...] = ()
    boxes: tuple[Box, ...] = ()
    width: int | None = None
    height: int | None = None
    sha256: str | None = None
    split: str | None = None


@dataclass(frozen=True)
class Manifest:
    """A dataset to train or evaluate on.

    ``tags`` lists every tag in a stable order (index = class label). ``negative_tag`` names the
    classification tag meaning "none of the others" (Azure's Negative tag), if any.
    """

    task: Task
    tags: tuple[str, ...]
    samples: tuple[Sample, ...]
    multilabel: bool = False
    negative_tag: str | None = None
    name: str = ""
    root: str = ""

    def resolve(self, sample: Sample) -> Path:
        """Absolute path of a sample's image."""
        p = Path(sample.path)
        return p if p.is_absolute() or not self.root else Path(self.root) / p

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Manifest:
        """Read either our own ``to_json`` form or the shared/datasets ``manifest.json`` form."""
        if "samples" in data:
            samples = tuple(
                Sample(
                    **{
                        **s,
                        "tags": tuple(s.get("tags", ())),
                        "boxes": tuple(Box(**b) for b in s.get("boxes", ())),
                    }
                )
                for s in data["samples"]
            )
            return cls(
                task=data["task"],
                tags=tuple(data["tags"]),
                samples=samples,
                multilabel=bool(data.get("multilabel", False)),
                negative_tag=data.get("negative_tag"),
                name=data.get("name", ""),
                root=data.get("root", ""),
            )
        samples_l = []
        for rel, info in data["images"].items():
            regions = tuple(
                Box(r["tag"], r["left"], r["top"], r["width"], r["height"]) for r in info.get("regions", ())
            )
            tags = tuple(info.get("tags", ())) or tuple(dict.fromkeys(b.tag for b in regions))
            samples_l.append(
                Sample(
                    id=rel,
                    path=rel,
                    tags=tags,
                    boxes=regions,
                    width=info.get("width"),
                    height=info.get("height"),
                    split=info.get("split"),
                )
            )
        return cls(
            task=data["task"],
            tags=tuple(data["tags"]),
            samples=tuple(samples_l),
            multilabel=bool(data.get("multilabel", False)),
            negative_tag=data.get("negative_tag"),
            name=data.get("name", ""),
            root=data.get("root", ""),
        )

    @classmethod
    def from_json(cls, path: str | Path) -> Manifest:
        """Load a manifest file; relative image paths resolve against the file's folder."""
        path = Path(path)
        data = json.loads(path.read_text())
        data.setdefault("root", str(path.parent.resolve()))
        return cls.from_dict(data)


@dataclass
class TrainResult:
    """What ``train`` returns. ``metrics`` is JSON-serialisable (see training/ml/metrics.py)."""

    artifact_path: str
    metrics: dict[str, Any]
    elapsed_seconds: float
    notes: list[str] = field(default_factory=list)
