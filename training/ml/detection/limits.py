"""What a detector's answer keeps: its score floor, the candidates before NMS, NMS's IoU and the most boxes.

torch-free, so that the server's DetectionPredictor (training.ml.detection.predict) imports it without torch;
``model.decode``, traced into every graph that decodes boxes, takes the same values from here.
"""

from __future__ import annotations

MAX_DETECTIONS = 300
PRE_NMS_TOPK = 1000
SCORE_FLOOR = 0.01
NMS_IOU = 0.5


def detections_cap(requested: int | None) -> int:
    """How many boxes an answer keeps at most: ``requested`` (a project's max detections) within 1..MAX_DETECTIONS,
    MAX_DETECTIONS when None."""
    return min(max(1, int(requested or MAX_DETECTIONS)), MAX_DETECTIONS)
