"""Template helpers of Quick Test, Predictions and the iteration page's prediction/export panels."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.filter
def css_pct(value: Any) -> str:
    """0.1234 -> "12.3400%" (a CSS length; full precision for box positions)."""
    try:
        return f"{min(100.0, max(0.0, float(value) * 100)):.4f}%"
    except (TypeError, ValueError):
        return "0%"


@register.inclusion_tag("predictions/_iteration_prediction_panels.html", takes_context=True)
def prediction_panels(context: dict[str, Any], iteration: Any) -> dict[str, Any]:
    """The iteration page's "Prediction URL" (published iterations) and "Export" panels."""
    from predictions.exports import export_panel
    from workspaces.access import Need, can
    from workspaces.models import WorkspaceKey

    request = context.get("request")
    key = ""
    workspace_id = iteration.project.workspace_id
    if iteration.is_published and request is not None and can(request.user, workspace_id, Need.TRAIN):
        found = WorkspaceKey.objects.filter(workspace_id=workspace_id, kind="prediction", slot=1).first()
        key = found.key if found else ""
    base = request.build_absolute_uri("/").rstrip("/") if request is not None else ""
    task = "detect" if iteration.is_detection else "classify"
    return {
        "iteration": iteration,
        "prediction_key": key,
        "endpoint": base,
        "task": task,
        **(export_panel(iteration=iteration) if iteration.status == "Completed" else {"rows": []}),
        "request": request,
        "csrf_token": context.get("csrf_token"),
        "limits": context.get("limits"),  # portal.context_processors.limits (an inclusion tag starts afresh)
        "access": context.get("access"),  # what the role allows (Export only for Trainers and Owners)
    }


@register.filter
def sci(value: Any) -> str:
    """2.3e-07 -> "2.3e-07" (tiny differences stay readable)."""
    try:
        return f"{float(value):.1e}"
    except (TypeError, ValueError):
        return "—"


@register.filter
def tag_hue(name: Any) -> int:
    """A stable hue (0..359) per tag name, so each tag's boxes share a colour."""
    import zlib

    return zlib.crc32(str(name).encode()) % 360
