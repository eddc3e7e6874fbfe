"""Webhook pages (Owners only: a webhook's URL and secret are credentials) and the account page's e-mail choice.

A webhook's secret is shown once, on the page after it is made or regenerated (kept in the session until then).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.contrib import messages
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_http_methods, require_POST

from notifications import services
from notifications.forms import EVENT_CHOICES, PreferenceForm, WebhookForm
from notifications.models import Delivery, DeliveryAttempt, Webhook
from projects.models import Project
from workspaces.access import Need, access
from workspaces.models import Workspace

NEW_SECRET = "tagsight_webhook_secret"  # session: {webhook id: secret} until the webhook's page shows it
DELIVERIES_SHOWN = 30


def _create(request: HttpRequest, form: WebhookForm, **scope: Any) -> Webhook | None:
    if not form.is_valid():
        return None
    try:
        hook = services.webhook_create(url=form.cleaned_data["url"], events_chosen=form.cleaned_data["events"],
                                       created_by=request.user, **scope)
    except services.NotificationError as exc:
        form.add_error("url" if "event" not in str(exc) else "events", str(exc))
        return None
    request.session[NEW_SECRET] = {**request.session.get(NEW_SECRET, {}), str(hook.id): hook.secret}
    return hook


def _list(request: HttpRequest, *, workspace: Workspace, project: Project | None, form: WebhookForm) -> HttpResponse:
    hooks = Webhook.objects.filter(project=project) if project else Webhook.objects.filter(workspace=workspace)
    project_hooks = None if project else Webhook.objects.filter(project__workspace=workspace).select_related("project")
    return render(request, "notifications/webhooks.html", {
        "workspace": workspace, "project": project, "hooks": hooks, "project_hooks": project_hooks,
        "form": form, "event_labels": dict(EVENT_CHOICES),
    })


@require_http_methods(["GET", "POST"])
@access(Need.OWN)
def workspace_webhooks(request: HttpRequest, workspace_id: UUID) -> HttpResponse:
    """The workspace's webhooks (told about every project of it), its projects' ones, and a form for a new one."""
    workspace = get_object_or_404(Workspace, pk=workspace_id)
    form = WebhookForm(request.POST or None)
    if request.method == "POST" and (hook := _create(request, form, workspace=workspace)):
        return redirect("notifications:webhook-detail", webhook_id=hook.id)
    return _list(request, workspace=workspace, project=None, form=form)


@require_http_methods(["GET", "POST"])
@access(Need.OWN)
def project_webhooks(request: HttpRequest, project_id: UUID) -> HttpResponse:
    """The project's own webhooks and a form for a new one."""
    project = get_object_or_404(Project.objects.select_related("workspace"), pk=project_id)
    form = WebhookForm(request.POST or None)
    if request.method == "POST" and (hook := _create(request, form, project=project)):
        return redirect("notifications:webhook-detail", webhook_id=hook.id)
    return _list(request, workspace=project.workspace, project=project, form=form)


def _webhook(webhook_id: UUID) -> Webhook:
    return get_object_or_404(Webhook.objects.select_related("project__workspace", "workspace"), pk=webhook_id)


@require_http_methods(["GET", "POST"])
@access(Need.OWN)
def webhook_detail(request: HttpRequest, webhook_id: UUID) -> HttpResponse:
    """One webhook: its settings (POST changes them), its secret once, the delivery log and "Send test event"."""
    hook = _webhook(webhook_id)
    initial = {"url": hook.url, "events": hook.events, "active": hook.active}
    form = WebhookForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.webhook_update(webhook=hook, url=form.cleaned_data["url"],
                                    events_chosen=form.cleaned_data["events"], active=form.cleaned_data["active"])
        except services.NotificationError as exc:
            form.add_error("url" if "event" not in str(exc) else "events", str(exc))
        else:
            messages.success(request, "Webhook saved.")
            return redirect("notifications:webhook-detail", webhook_id=hook.id)
    secrets_shown = request.session.get(NEW_SECRET, {})
    secret = secrets_shown.pop(str(hook.id), None)
    if secret is not None:
        request.session[NEW_SECRET] = secrets_shown
    deliveries = (Delivery.objects.filter(webhook=hook)
                  .prefetch_related(Prefetch("attempt_log", queryset=DeliveryAttempt.objects.order_by("number")))
                  [:DELIVERIES_SHOWN])
    workspace = hook.project.workspace if hook.project else hook.workspace
    return render(request, "notifications/webhook_detail.html", {
        "hook": hook, "form": form, "secret": secret, "deliveries": deliveries, "workspace": workspace,
        "project": hook.project, "event_labels": dict(EVENT_CHOICES),
    })


@require_POST
@access(Need.OWN)
def webhook_test(request: HttpRequest, webhook_id: UUID) -> HttpResponse:
    hook = _webhook(webhook_id)
    services.webhook_test(webhook=hook)
    messages.success(request, "Test event queued: its delivery appears below (reload to follow it).")
    return redirect("notifications:webhook-detail", webhook_id=hook.id)


@require_POST
@access(Need.OWN)
def webhook_secret(request: HttpRequest, webhook_id: UUID) -> HttpResponse:
    hook = services.webhook_secret_roll(webhook=_webhook(webhook_id))
    request.session[NEW_SECRET] = {**request.session.get(NEW_SECRET, {}), str(hook.id): hook.secret}
    messages.success(request, "New secret made: the old one no longer signs deliveries.")
    return redirect("notifications:webhook-detail", webhook_id=hook.id)


@require_POST
@access(Need.OWN)
def webhook_delete(request: HttpRequest, webhook_id: UUID) -> HttpResponse:
    hook = _webhook(webhook_id)
    project, workspace_id = hook.project, hook.owner_workspace_id
    services.webhook_delete(webhook=hook)
    messages.success(request, "Webhook deleted.")
    if project is not None:
        return redirect("notifications:project-webhooks", project_id=project.id)
    return redirect("notifications:workspace-webhooks", workspace_id=workspace_id)


@require_POST
@access(Need.ACCOUNT)
def preferences(request: HttpRequest) -> HttpResponse:
    """The account page's "E-mail me when a training I started finishes"."""
    form = PreferenceForm(request.POST)
    form.is_valid()
    services.preference_set(user=request.user, training_email=bool(form.cleaned_data.get("training_email")))
    messages.success(request, "Notification settings saved.")
    return redirect("account")


def account_panel(request: HttpRequest) -> str:
    """The account page's Notifications section (workspaces.views.account_panel_add)."""
    preference = services.preference_of(user=request.user)
    form = PreferenceForm(initial={"training_email": preference.training_email})
    return render_to_string("notifications/_account_panel.html", {"form": form, "user": request.user},
                            request=request)
