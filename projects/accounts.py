"""Account page and API-key services (Training-Key / Prediction-Key for the Azure-compatible API)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from projects.models import ApiKey, _new_key


def apikey_get_or_create(*, user: Any) -> ApiKey:
    key, _ = ApiKey.objects.get_or_create(user=user)
    return key


def apikey_regenerate(*, user: Any, which: str) -> ApiKey:
    """Replace the user's training or prediction key; the old one stops working at once."""
    key = apikey_get_or_create(user=user)
    if which == "training":
        key.training_key = _new_key()
    elif which == "prediction":
        key.prediction_key = _new_key()
    else:
        raise ValueError(f"unknown key kind {which!r}")
    key.save()
    return key


def user_for_key(*, training_key: str | None = None, prediction_key: str | None = None) -> Any | None:
    """The active user owning this key, or None."""
    qs = ApiKey.objects.select_related("user").filter(user__is_active=True)
    if training_key:
        found = qs.filter(training_key=training_key).first()
    elif prediction_key:
        found = qs.filter(prediction_key=prediction_key).first()
    else:
        return None
    return found.user if found else None


def user_with_keys(*, username: str) -> tuple[Any, ApiKey, bool]:
    """Create the user if new (unusable password) and their keys if missing. Returns (user, keys, created)."""
    user, created = get_user_model().objects.get_or_create(username=username)
    if created:
        user.set_unusable_password()
        user.save()
    return user, apikey_get_or_create(user=user), created


@login_required
def account(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/account.html", {"keys": apikey_get_or_create(user=request.user)})


@require_POST
@login_required
def account_regenerate(request: HttpRequest, which: str) -> HttpResponse:
    if which not in ("training", "prediction"):
        return HttpResponse(status=404)
    keys = apikey_regenerate(user=request.user, which=which)
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "accounts/account.html#keys", {"keys": keys})
    return redirect("account")
