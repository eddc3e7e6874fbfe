"""Region proposals for the labeler and the API's regionproposals (registered as labeling.proposals' source).

With a trained detector (the project's newest Completed iteration) its boxes made class-agnostic: every box at
or above CUTOFF whatever its tag, non-maximum suppression across tags. Without one, the generic colour /
contrast method of health.smartlabel_proposals. Cached per (iteration or "generic", image, file).
"""

from __future__ import annotations

import io
import logging

from django.core.cache import cache
from django.core.files.storage import default_storage
from PIL import Image as PILImage

from health.smartlabel_proposals import Box, nms, propose
from labeling.proposals import Proposal
from predictions.services import predictor_get
from projects.models import Image
from training.models import Iteration

logger = logging.getLogger(__name__)

CUTOFF = 0.1  # detector boxes under this confidence are not proposed
LIMIT = 20
CACHE_SECONDS = 24 * 3600


def _detector(image: Image) -> Iteration | None:
    return (Iteration.objects.filter(project_id=image.project_id, status=Iteration.Status.COMPLETED,
                                     project_type="detection").exclude(artifact_path="")
            .order_by("-number").first())


def _detector_boxes(iteration: Iteration, data: bytes) -> list[Box]:
    boxes = [Box(float(p.probability), p.box.left, p.box.top, p.box.width, p.box.height)
             for p in predictor_get(iteration=iteration).predict(data)
             if p.box is not None and p.probability >= CUTOFF]
    return nms(boxes, iou_threshold=0.5, limit=LIMIT)


def proposals_for(image: Image) -> list[Proposal]:
    """Class-agnostic proposals for a detection project's image (none for classification projects)."""
    if not image.project.is_detection:
        return []
    iteration = _detector(image)
    key = f"tagsight:proposals:{iteration.id if iteration else 'generic'}:{image.id}:{image.sha256}"
    found = cache.get(key)
    if found is None:
        with default_storage.open(image.file.name, "rb") as fh:
            data = fh.read()
        try:
            boxes = _detector_boxes(iteration, data) if iteration else propose(PILImage.open(io.BytesIO(data)))
        except Exception:  # an unreadable file or a broken artifact: no proposals rather than a broken labeler
            logger.exception("no region proposals for image %s", image.id)
            boxes = []
        found = [(b.confidence, b.left, b.top, b.width, b.height) for b in boxes]
        cache.set(key, found, CACHE_SECONDS)
    return [Proposal(round(c, 4), *(round(v, 6) for v in xywh)) for c, *xywh in found]
