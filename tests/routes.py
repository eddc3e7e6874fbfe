"""The URL table as test input: every route, a concrete path for it, and a workspace full of objects to aim at.

Shared by the stranger tests (tests/test_strangers.py) and the route x role tests (tests/workspaces/test_roles.py),
so a new route is walked by both without anyone remembering to add it. A route's id parameters are filled from
the ``owned`` objects by name; a parameter with no value fails, asking for one here.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

from django.contrib.auth import get_user_model
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.utils import timezone

from tests.factories import make_image_bytes, make_project, make_tag

HX = {"HTTP_HX_REQUEST": "true"}
ID_PARAMS = {"workspace_id", "project_id", "image_id", "tag_id", "iteration_id", "region_id", "prediction_id",
             "export_id", "webhook_id", "import_id", "archive_import_id"}
FIXED = {"kind": "original", "which": "training", "task": "classify", "publish_name": "live", "token": "x"}
NO_ID = {"domain_id"}  # domains are global (same for everyone)
# Route names anyone may open signed out (an invitation's link and sign-up are for people with no account yet).
PUBLIC = {"login", "logout", "password_reset", "password_reset_done", "password_reset_confirm",
          "password_reset_complete", "healthz", "favicon", "invitation", "signup", "metrics"}


def routes(patterns: list[Any] | None = None, prefix: str = "") -> Iterator[tuple[str, str, URLPattern]]:
    """(prefix, regex, pattern) of every route in the URL table, includes flattened."""
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(entry, URLResolver):
            yield from routes(entry.url_patterns, prefix + str(entry.pattern.regex.pattern).lstrip("^"))
        elif isinstance(entry, URLPattern):
            yield prefix, str(entry.pattern.regex.pattern).lstrip("^"), entry


def is_portal(prefix: str, regex: str) -> bool:
    """A portal page (HTML, signed in by cookie): not the admin, not the Azure API."""
    return not (prefix + regex).startswith(("customvision", "admin"))


def fill(regex: str, values: dict[str, str], *, needs_id: bool = True) -> str | None:
    """A concrete path for a route regex, or None when it names no object (and ``needs_id``)."""
    names = re.findall(r"\(\?P<(\w+)>", regex)
    if needs_id and not ID_PARAMS & set(names):
        return None
    missing = [n for n in names if n not in values and n not in FIXED and n not in NO_ID]
    assert not missing, f"route {regex!r}: add a value for {missing} to tests/routes.py"

    def group(m: re.Match[str]) -> str:
        return str(values.get(m.group(1)) or FIXED.get(m.group(1), "x"))

    path = regex
    # replace each named group (with its own nested brackets) by its value
    out, i = [], 0
    while i < len(path):
        m = re.compile(r"\(\?P<(\w+)>").match(path, i)
        if m:
            depth, j = 1, m.end()
            while depth:
                depth += {"(": 1, ")": -1}.get(path[j], 0) if path[j - 1] != "\\" else 0
                j += 1
            out.append(group(m))
            i = j
        else:
            out.append(path[i])
            i += 1
    text = "".join(out).removesuffix("\\Z").rstrip("$").replace("\\", "")  # path() ends in \Z, re_path() in $
    text = re.sub(r"\(\?:([^|)]*)[^)]*\)", r"\1", text)  # alternatives: the first one
    text = text.replace("[0-3]", "4-preview" if "training" in text else "1").replace("4-preview|4-preview", "4-preview")
    text = re.sub(r"\[(.)[^]]*\]", r"\1", text)  # other character classes ([01]): their first character
    return "/" + text


def path_for(prefix: str, regex: str, entry: URLPattern, owned: dict[str, Any], *, needs_id: bool = True) -> str | None:
    """``fill`` with the owned ids; the path must reach the route's own view (not a 404 from the resolver).

    None as well for a route that an earlier one of the same name overrides (portal/urls.py puts its own
    declared views in front of some of django.contrib.auth's): that one is never reached."""
    path = fill(prefix + regex, {k: str(v) for k, v in owned.items()}, needs_id=needs_id)
    if path is not None:
        found = resolve(path)
        if found.func != entry.callback and entry.name and found.url_name == entry.name:
            return None
        assert found.func == entry.callback, f"{path} does not reach {entry.name or regex}: fix tests/routes.py"
    return path


def make_owned(user: Any, *, workspace: Any = None) -> dict[str, Any]:
    """A detection project (in ``workspace``, else the user's personal one) with one of everything a URL can
    name: image, tag, region, a published iteration, a stored prediction, an export and a webhook. Returns the ids."""
    from datasets.archives.models import ArchiveImport
    from datasets.customvision.models import ImportJob
    from labeling.services import region_create
    from notifications.models import Webhook
    from predictions.models import Export, StoredPrediction
    from projects.services import image_upload
    from training.models import Iteration
    from training.services import iteration_publish
    from workspaces.models import Invitation, Membership

    extra = {"workspace": workspace} if workspace is not None else {}
    project = make_project(user, name="Owner's", project_type="detection",
                           domain_id="da2e3a8a-40a5-4171-82f4-58522f70fbc1", **extra)
    tag = make_tag(project, "fork")
    image = image_upload(project=project, data=make_image_bytes(color=(10, 200, 30))).image
    region = region_create(image=image, tag=tag, left=0.1, top=0.1, width=0.5, height=0.5)
    now = timezone.now()
    iteration = Iteration.objects.create(project=project, number=1, name="Iteration 1", status="Completed",
                                         domain_id=project.domain_id, project_type="detection",
                                         started=now, finished=now, task_id=str(uuid.uuid4()))
    iteration_publish(iteration=iteration, publish_name="live")
    prediction = StoredPrediction.objects.create(project=project, iteration=iteration, file="x.jpg")
    export = Export.objects.create(iteration=iteration, status="Done", file="x.zip")
    webhook = Webhook.objects.create(project=project, url="https://hooks.example.com/tagsight", events=["export.ready"])
    # The Members page's forms name a member and an invitation in their bodies.
    member = get_user_model().objects.create_user(username=f"member-{project.workspace_id.hex[:8]}")
    Membership.objects.create(workspace_id=project.workspace_id, user=member, role="viewer")
    invitation = Invitation.objects.create(workspace_id=project.workspace_id, email="ann@example.com", role="viewer")
    found = [{"id": str(uuid.uuid4()), "name": "Azure's", "type": "Classification", "classification_type": "Multiclass",
              "domain": "General", "images": 3}]
    cv_import = ImportJob.objects.create(workspace_id=project.workspace_id, endpoint="http://127.0.0.1:9",
                                         training_key="k", found=found)
    archive_import = ArchiveImport.objects.create(workspace_id=project.workspace_id, upload="archive-imports/x.zip",
                                                  status="Done", project=project)
    return {"workspace_id": project.workspace_id, "project_id": project.id, "image_id": image.id, "tag_id": tag.id,
            "iteration_id": iteration.id, "region_id": region.id, "prediction_id": prediction.id,
            "export_id": export.id, "webhook_id": webhook.id, "import_id": cv_import.id, "member_id": member.pk,
            "invitation_id": invitation.pk, "archive_import_id": archive_import.id}


def post_data(owned: dict[str, Any], *, action: str = "tag") -> dict[str, Any]:
    """A POST body every portal form would act on: retag (or ``action``), rename, a box, a key — all aimed at the
    owned rows."""
    return {"name": "x", "tag": str(owned["tag_id"]), "tag_id": str(owned["tag_id"]), "tag_ids": [str(owned["tag_id"])],
            "image": str(owned["image_id"]),
            "on": "1", "action": action, "image_ids": [str(owned["image_id"])], "ids": [str(owned["prediction_id"])],
            "left": "0.2", "top": "0.2", "width": "0.3", "height": "0.3", "sample": "static:hemlock-test.jpg",
            "kind": "prediction", "slot": "2",
            "user": str(owned["member_id"]), "invitation": str(owned["invitation_id"]), "role": "viewer"}


def snapshot() -> list[Any]:
    """Every row a refused request could have touched, comparable before and after."""
    from datasets.customvision.models import ImportJob
    from labeling.models import Region
    from notifications.models import Delivery, Webhook
    from predictions.models import Export, StoredPrediction
    from projects.models import Image, Project, Tag
    from training.models import Iteration
    from workspaces.models import Membership, WorkspaceKey

    return [sorted(map(str, m.objects.values_list(*fields))) for m, fields in (
        (Project, ("id", "name", "modified")), (Tag, ("id", "name")), (Image, ("id", "metadata")),
        (Image.tags.through, ("image_id", "tag_id")), (Region, ("id", "left", "tag_id")),
        (Iteration, ("id", "name", "status", "publish_name")), (StoredPrediction, ("id",)), (Export, ("id", "status")),
        (Membership, ("workspace_id", "user_id", "role")), (WorkspaceKey, ("key",)),
        (Webhook, ("id", "url", "secret", "active")), (Delivery, ("id",)), (ImportJob, ("id", "status", "selected")))]
