"""Custom Vision's domains (Azure's GUIDs and names), the backbone each one maps to, and where each exports.

The mapping to EfficientNet-Lite backbones is ours: "compact" domains are the ones you would put on a phone, so
they get the smallest model (and an int8 copy of it, see README "Compact domains"; a compact classification
iteration's is what the server runs where its report says it is as accurate and faster); the A1/A2 "better accuracy"
domains get the larger ones. No domain has weights of its own beyond ImageNet's: General classifies at 288 px with
GeM pooling (``image_size``, ``pooling``: +2.3 points on small hard sets), compact domains at Lite0's own
224 px, average-pooled. Where one trains another recipe (Retail and Products on Shelves: a higher input resolution;
Landmarks: the whole frame as well as the centre crop, ``framings``) its ``description`` says exactly what changes,
and where it does not (Food, Logo) it says it trains what General trains. ``benchmarks/ml_classification.py
--domains`` measures each recipe.

Exports follow Azure: compact domains export to every platform Tagsight builds (Azure exports only compact
domains). A non-compact domain's model is the full-size fp32 model; Tagsight still exports it, to ONNX only
(with its ONNX10 / ONNX12 flavors), and says so in ``exportablePlatforms``.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

CLASSIFICATION = "Classification"
OBJECT_DETECTION = "ObjectDetection"

# Azure's ExportPlatform names Tagsight builds, each with the flavors it accepts ("" = no flavor), in the order
# the portal offers them. Azure's other platforms (VAIDK, ...) are refused with its unsupported-platform error.
EXPORT_FLAVORS: dict[str, tuple[str, ...]] = {
    "ONNX": ("", "ONNX10", "ONNX12"),
    "OpenVino": ("",),
    "DockerFile": ("Linux", "ARM"),  # no flavor = Linux, as on Azure
    "CoreML": ("",),
    "TensorFlow": ("TensorFlowNormal", "TensorFlowLite"),  # SavedModel / .tflite; no flavor = TensorFlowNormal
}
FULL_SIZE_PLATFORMS = ("ONNX",)  # what a non-compact domain exports


@dataclass(frozen=True)
class Domain:
    id: UUID
    name: str
    type: str  # Classification | ObjectDetection
    backbone: str  # training.ml BACKBONES key
    compact: bool = False
    description: str = ""
    # The training recipe beyond the backbone, carried into training.ml's TrainConfig (training.services.run):
    image_size: int | None = None  # input side in px; None = the backbone's (classification) or detector's default
    framings: tuple[str, ...] = ("centre",)  # classification: "centre" crop and/or "whole" frame (training.ml)
    pooling: str = "avg"  # classification: the embedding's pooling (training.ml.backbones.POOLINGS)

    @property
    def export_platforms(self) -> tuple[str, ...]:
        """Azure's ``exportablePlatforms``: every platform for a compact domain, ONNX only otherwise."""
        return tuple(EXPORT_FLAVORS) if self.compact else FULL_SIZE_PLATFORMS

    @property
    def exportable(self) -> bool:
        return bool(self.export_platforms)

    def export_flavors(self, platform: str) -> tuple[str, ...]:
        """The flavors this domain exports to ``platform`` (Azure's spelling); empty when it does not."""
        return EXPORT_FLAVORS[platform] if platform in self.export_platforms else ()


_SAME_AS_GENERAL = ("No weights or recipe of its own: trains exactly what General trains (EfficientNet-Lite0, "
                    "288 px, centre crop, GeM pooling of unclipped features).")
_COMPACT = ("Compact: EfficientNet-Lite0 at 224 px, exported to every platform; "
            "the ONNX export also holds an int8 model (static quantisation calibrated on the training images), which "
            "predictions run instead where it agrees with fp32 on >= 99 % of the validation images, loses at most 1 "
            "point of mAP and runs faster (about 1.8x on a CPU with VNNI).")

_COMPACT_DETECTION = ("Compact: EfficientNet-Lite0 detector at 320 px, exported to every platform; the ONNX export "
                      "also holds an int8 model (static quantisation calibrated on the training images), at 256 or "
                      "288 px where its boxes on the validation images stay within 1 point of mAP.")

DOMAINS: tuple[Domain, ...] = (
    Domain(UUID("ee85a74c-405e-4adc-bb47-ffa8ca0c9f31"), "General", CLASSIFICATION, "lite0", image_size=288,
           pooling="gem-unclipped",
           description="EfficientNet-Lite0 (ImageNet weights, trained at 224 px) at 288 px, its last features "
                       "(unclipped) pooled by a generalised mean (GeM) rather than averaged: with the head's "
                       "cross-validated penalty, +3.0 points of accuracy over logistic regression on Lite0's 224 px "
                       "averaged features on small, hard sets, for about 1.4x the training and 1.5x the prediction "
                       "time. Exports to ONNX (full-size fp32 model)."),
    Domain(UUID("a8e3c40f-fb4a-466f-832a-5e457ae4a344"), "General [A1]", CLASSIFICATION, "lite2",
           description="Larger backbone: EfficientNet-Lite2 at 260 px; slower, better on hard sets."),
    Domain(UUID("2e37d7fb-3a54-486a-b4d6-cfc369af0018"), "General [A2]", CLASSIFICATION, "lite1",
           description="Larger backbone: EfficientNet-Lite1 at 240 px; between General and General [A1]."),
    Domain(UUID("c151d5b5-dd07-472a-acc8-15d29dea8518"), "Food", CLASSIFICATION, "lite0", image_size=288,
           pooling="gem-unclipped",
           description=_SAME_AS_GENERAL + " A flip-averaged prediction was measured for it and did not beat General."),
    Domain(UUID("ca455789-012d-4b50-9fec-5bb63841c793"), "Landmarks", CLASSIFICATION, "lite0",
           framings=("centre", "whole"),
           description="EfficientNet-Lite0 at 224 px, average-pooled, seeing the whole frame as well as the centre "
                       "crop, for wide scenes and off-centre landmarks: trained on both framings, it predicts from the "
                       "mean of the two (twice the time to embed an image at 224 px). No Landmarks weights of its own. "
                       "Exports to ONNX (full-size fp32 model)."),
    Domain(UUID("b30a91ae-e3c1-4f73-a81e-c270bff27c39"), "Retail", CLASSIFICATION, "lite0", image_size=320,
           description="EfficientNet-Lite0 at 320 px, average-pooled, so small products keep their detail; "
                       "about twice the time to embed an image at 224 px, in training and prediction. "
                       "No Retail weights of its own. Exports to ONNX (full-size fp32 model)."),
    Domain(UUID("0732100f-1a38-4e49-a514-c9b44c697ab5"), "General (compact)", CLASSIFICATION, "lite0", True,
           description=_COMPACT),
    Domain(UUID("a1db07ca-a19a-4830-bae8-e004a42dc863"), "General (compact) [S1]", CLASSIFICATION, "lite0", True,
           description=_COMPACT),
    # Object detection: the Python quickstart picks type=="ObjectDetection" and name=="General"; the JS
    # one takes the first OD domain, so "General" comes first.
    Domain(UUID("da2e3a8a-40a5-4171-82f4-58522f70fbc1"), "General", OBJECT_DETECTION, "lite0",
           description="EfficientNet-Lite0 detector at 320 px (ImageNet weights). "
                       "Exports to ONNX (full-size fp32 model)."),
    Domain(UUID("9c616dff-2e7d-ea11-af59-1866da359ce6"), "General [A1]", OBJECT_DETECTION, "lite1",
           description="Larger backbone: EfficientNet-Lite1 detector at 320 px, about 1.25x General's prediction "
                       "time. Measured against General: +1.0 mAP@0.5 points on dozens of small objects per "
                       "image, -1.9 on large ones (raccoon). No weights of its own."),
    Domain(UUID("1d8ffafe-ec40-4fb2-8f90-72b3b6cecea4"), "Logo", OBJECT_DETECTION, "lite0",
           description="No weights or recipe of its own: trains exactly what General (object detection) trains "
                       "(EfficientNet-Lite0 detector, 320 px)."),
    Domain(UUID("3780a898-81c3-4516-81ae-3a139614e1f3"), "Products on Shelves", OBJECT_DETECTION, "lite0",
           image_size=448,
           description="General's EfficientNet-Lite0 detector at 448 px instead of 320 px, for small products on "
                       "crowded shelves; about twice General's training and prediction time. No weights of its own. "
                       "Exports to ONNX (full-size fp32 model)."),
    Domain(UUID("a27d5ca5-bb19-49d8-a70a-fec086c47f5b"), "General (compact)", OBJECT_DETECTION, "lite0", True,
           description=_COMPACT_DETECTION),
    Domain(UUID("7ec2ac80-887b-48a6-8df9-8b1357765430"), "General (compact) [S1]", OBJECT_DETECTION, "lite0", True,
           description=_COMPACT_DETECTION),
)

DOMAINS_BY_ID: dict[UUID, Domain] = {d.id: d for d in DOMAINS}
DEFAULT_CLASSIFICATION_DOMAIN = DOMAINS[0].id
DEFAULT_DETECTION_DOMAIN = next(d.id for d in DOMAINS if d.type == OBJECT_DETECTION)


def domain_of(domain_id: UUID | str | None) -> Domain | None:
    try:
        return DOMAINS_BY_ID.get(domain_id if isinstance(domain_id, UUID) else UUID(str(domain_id)))
    except ValueError:
        return None
