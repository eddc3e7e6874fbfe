"""HTML views for projects, tags and images."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from projects.selectors import project_list_for


@login_required
def project_list(request: HttpRequest) -> HttpResponse:
    return render(request, "projects/project_list.html", {"projects": project_list_for(user=request.user)})
