"""What an event says: the webhook JSON body and the training e-mail, from the rows the event names."""

from __future__ import annotations

import json
import uuid
from typing import Any

from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from predictions.models import Export
from training.models import Iteration


def absolute(path: str) -> str:
    return f"{settings.TAGSIGHT_PUBLIC_URL}{path}"


def iteration_url(iteration: Iteration) -> str:
    return absolute(reverse("training:iteration-detail", kwargs={"iteration_id": iteration.id}))


def figures(iteration: Iteration) -> dict[str, float]:
    """The headline figures the training stored (precision, recall, AP — the mean AP over tags, i.e. mAP for a
    detector; accuracy when the engine gave one), at its default threshold of 0.5: empty before it completes."""
    overall = (iteration.metrics or {}).get("overall") or {}
    names = {"precision": "precision", "recall": "recall", "ap": "averagePrecision", "accuracy": "accuracy"}
    out = {}
    for key, name in names.items():
        value = overall.get(key)
        if isinstance(value, (int, float)):
            out[name] = round(float(value), 4)
    return out


def payload(event: str, *, iteration: Iteration, export: Export | None = None,
            event_id: str | None = None) -> dict[str, Any]:
    project = iteration.project
    workspace = project.workspace
    body: dict[str, Any] = {
        "event": event,
        "id": event_id or str(uuid.uuid4()),
        "created": timezone.now().isoformat(),
        "workspace": {"id": str(workspace.id), "name": workspace.name},
        "project": {"id": str(project.id), "name": project.name},
        "iteration": {
            "id": str(iteration.id),
            "name": iteration.name,
            "status": iteration.status,
            "publishName": iteration.publish_name,
            "figures": figures(iteration),
            "error": iteration.error or None,
            "url": iteration_url(iteration),
        },
    }
    if export is not None:
        body["export"] = {
            "id": str(export.id),
            "platform": export.platform,
            "flavor": export.flavor or None,
            "status": export.status,
            "downloadUrl": absolute(reverse("predictions:export-download", kwargs={"export_id": export.id})),
        }
    return body


def encode(body: dict[str, Any]) -> str:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def training_email(iteration: Iteration) -> tuple[str, str]:
    """(subject, text) of the e-mail sent when a training completes or fails."""
    project = iteration.project
    outcome = "completed" if iteration.status == Iteration.Status.COMPLETED else "failed"
    subject = f"Tagsight: {iteration.name} of {project.name} {outcome}"
    lines = [f"The training of {iteration.name} in project {project.name} ({project.workspace.name}) {outcome}.", ""]
    shown = figures(iteration)
    labels = {"precision": "Precision", "recall": "Recall",
              "averagePrecision": "mAP" if iteration.is_detection else "AP", "accuracy": "Accuracy"}
    for name, value in shown.items():
        lines.append(f"{labels[name]}: {value * 100:.1f} %")
    if iteration.status == Iteration.Status.FAILED and iteration.error:
        lines.append(f"Error: {iteration.error}")
    lines += ["", f"Open it: {iteration_url(iteration)}", "",
              "You receive this because the training named your address, or because you asked for these e-mails "
              "on your account page."]
    return subject, "\n".join(lines)
