"""Root URLconf: auth, health, each app's pages, and the Azure-compatible API."""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from portal import metrics, views
from workspaces import views as workspace_views
from workspaces.access import Need, access

urlpatterns = [
    path("admin/", admin.site.urls),
    # Django's own password change pages, declared like every portal page (the route x role tests require a
    # declaration); these two come first and so override the ones django.contrib.auth.urls brings.
    path("accounts/password_change/", access(Need.ACCOUNT)(auth_views.PasswordChangeView.as_view()),
         name="password_change"),
    path("accounts/password_change/done/", access(Need.ACCOUNT)(auth_views.PasswordChangeDoneView.as_view()),
         name="password_change_done"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("healthz", views.healthz, name="healthz"),
    path("metrics", metrics.metrics, name="metrics"),  # Prometheus; 404 unless TAGSIGHT_METRICS_TOKEN is set
    path("favicon.ico", views.favicon, name="favicon"),
    path("account/", workspace_views.account, name="account"),
    path("", include("workspaces.urls")),
    path("", include("projects.urls")),
    path("", include("labeling.urls")),
    path("", include("training.urls")),
    path("", include("predictions.urls")),
    path("", include("health.urls")),
    path("", include("notifications.urls")),
    path("", include("datasets.urls")),
    path("", include("portal.azure.urls")),
]

if settings.TAGSIGHT_OIDC:  # single sign-on: /oidc/authenticate/ starts it, the provider returns to /oidc/callback/
    urlpatterns.insert(2, path("oidc/", include("mozilla_django_oidc.urls")))
