"""Custom Vision's domains (Azure's GUIDs and names) and the backbone each one maps to.

The mapping to EfficientNet-Lite backbones is ours: "compact" domains are the ones you would put
on a phone, so they get the smallest model; the A1/A2 "better accuracy" domains get the larger ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

CLASSIFICATION = "Classification"
OBJECT_DETECTION = "ObjectDetection"


@dataclass(frozen=True)
class Domain:
    id: UUID
    name: str
    type: str  # Classification | ObjectDetection
    backbone: str  # training.ml BACKBONES key
    compact: bool = False  # Azure: "exportable"

    @property
    def exportable(self) -> bool:
        # Every Tagsight model exports to ONNX; Azure only exports compact domains.
        return True


DOMAINS: tuple[Domain, ...] = (
    Domain(UUID("ee85a74c-405e-4adc-bb47-ffa8ca0c9f31"), "General", CLASSIFICATION, "lite0"),
    Domain(UUID("a8e3c40f-fb4a-466f-832a-5e457ae4a344"), "General [A1]", CLASSIFICATION, "lite2"),
    Domain(UUID("2e37d7fb-3a54-486a-b4d6-cfc369af0018"), "General [A2]", CLASSIFICATION, "lite1"),
    Domain(UUID("c151d5b5-dd07-472a-acc8-15d29dea8518"), "Food", CLASSIFICATION, "lite0"),
    Domain(UUID("ca455789-012d-4b50-9fec-5bb63841c793"), "Landmarks", CLASSIFICATION, "lite0"),
    Domain(UUID("b30a91ae-e3c1-4f73-a81e-c270bff27c39"), "Retail", CLASSIFICATION, "lite0"),
    Domain(UUID("0732100f-1a38-4e49-a514-c9b44c697ab5"), "General (compact)", CLASSIFICATION, "lite0", True),
    Domain(UUID("a1db07ca-a19a-4830-bae8-e004a42dc863"), "General (compact) [S1]", CLASSIFICATION, "lite0", True),
    # Object detection: the Python quickstart picks type=="ObjectDetection" and name=="General"; the JS
    # one takes the first OD domain, so "General" comes first.
    Domain(UUID("da2e3a8a-40a5-4171-82f4-58522f70fbc1"), "General", OBJECT_DETECTION, "lite0"),
    Domain(UUID("9c616dff-2e7d-ea11-af59-1866da359ce6"), "General [A1]", OBJECT_DETECTION, "lite1"),
    Domain(UUID("1d8ffafe-ec40-4fb2-8f90-72b3b6cecea4"), "Logo", OBJECT_DETECTION, "lite0"),
    Domain(UUID("3780a898-81c3-4516-81ae-3a139614e1f3"), "Products on Shelves", OBJECT_DETECTION, "lite0"),
    Domain(UUID("a27d5ca5-bb19-49d8-a70a-fec086c47f5b"), "General (compact)", OBJECT_DETECTION, "lite0", True),
    Domain(UUID("7ec2ac80-887b-48a6-8df9-8b1357765430"), "General (compact) [S1]", OBJECT_DETECTION, "lite0", True),
)

DOMAINS_BY_ID: dict[UUID, Domain] = {d.id: d for d in DOMAINS}
DEFAULT_CLASSIFICATION_DOMAIN = DOMAINS[0].id
DEFAULT_DETECTION_DOMAIN = next(d.id for d in DOMAINS if d.type == OBJECT_DETECTION)


