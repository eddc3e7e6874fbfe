"""What the Data Health page and the iteration page's summary read: the latest run and its open findings."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from health.datahealth_models import DataHealthFinding, DataHealthRun
from projects.models import Image, Project

Kind = DataHealthFinding.Kind
BOX_KINDS = (Kind.BOX_TAG, Kind.BOX_MISSING, Kind.BOX_WHOLE, Kind.BOX_DOUBLE, Kind.BOX_TINY)


@dataclass
class HealthPage:
    latest: DataHealthRun | None  # the newest run, whatever its state
    result: DataHealthRun | None  # the newest completed run (what the page lists)
    findings: dict[str, list[DataHealthFinding]] = field(default_factory=dict)
    images: dict[str, Image] = field(default_factory=dict)

    @property
    def box_findings(self) -> list[DataHealthFinding]:
        return [f for kind in BOX_KINDS for f in self.findings.get(kind, [])]

    @property
    def counts(self) -> dict[str, int]:
        return {kind: len(items) for kind, items in self.findings.items()}


def datahealth_latest(*, project: Project) -> DataHealthRun | None:
    return DataHealthRun.objects.filter(project=project).order_by("-created", "-id").first()


def datahealth_result(*, project: Project) -> DataHealthRun | None:
    return (DataHealthRun.objects.filter(project=project, status=DataHealthRun.Status.COMPLETED)
            .order_by("-created", "-id").first())


def datahealth_page(*, project: Project) -> HealthPage:
    """The latest run and, from the latest completed one, its open findings whose images all still exist."""
    page = HealthPage(latest=datahealth_latest(project=project), result=datahealth_result(project=project))
    if page.result is None:
        return page
    findings = list(page.result.findings.filter(resolved=False))
    wanted = {uuid.UUID(i) for f in findings for i in f.image_ids}
    page.images = {str(im.id): im for im in Image.objects.filter(project=project, id__in=wanted).prefetch_related(
        "tags")}
    for f in findings:
        if all(i in page.images for i in f.image_ids):
            setattr(f, "images", [page.images[i] for i in f.image_ids])  # noqa: B010 - for the template
            page.findings.setdefault(f.kind, []).append(f)
    return page


def datahealth_finding(*, project: Project, finding_id: Any) -> DataHealthFinding | None:
    try:
        pk = int(finding_id)
    except (TypeError, ValueError):
        return None
    return DataHealthFinding.objects.filter(id=pk, run__project=project, resolved=False).first()
