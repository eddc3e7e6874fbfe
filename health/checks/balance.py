"""Tag balance: counts against Azure's training minimum and its advised 50, untagged images, each tag's share."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

ADVISED = 50  # Custom Vision's advice: at least 50 images (boxes) per tag


@dataclass(frozen=True)
class TagBalance:
    tag: str
    count: int
    share: float  # of all tag uses
    below_minimum: bool  # training refuses it
    below_advised: bool


def tag_balance(counts: Mapping[str, int], *, minimum: int, advised: int = ADVISED) -> list[TagBalance]:
    """Per tag, most used first: its count, its share, and whether it is under ``minimum`` / ``advised``."""
    total = sum(counts.values())
    rows = [
        TagBalance(tag=tag, count=n, share=n / total if total else 0.0, below_minimum=n < minimum,
                   below_advised=n < advised)
        for tag, n in counts.items()
    ]
    return sorted(rows, key=lambda r: (-r.count, r.tag.lower()))
