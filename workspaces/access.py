"""Who may do what: the one place where permissions are decided.

A *principal* is a signed-in user (acting through their memberships) or a workspace key (the API acting as
"Training Key N" of one workspace). A role grants a set of :class:`Need`; every portal view declares what it needs
with :func:`access` and every API handler is reached only through a key (``portal.azure.auth``). Objects are
found only inside the principal's workspaces, so a non-member gets 404 (ids never leak); a member without the
right gets 403.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar, cast
from uuid import UUID

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest
from django.http.response import HttpResponseBase

from workspaces import audit
from workspaces.models import Membership, Role, Workspace, WorkspaceKey


class Need(StrEnum):
    VIEW = "view"  # read everything
    LABEL = "label"  # upload images, tag them, draw boxes, create tags
    TRAIN = "train"  # train, publish, export, quick test, predictions, settings, delete images/tags, new projects
    OWN = "own"  # members, keys, audit log, delete and move projects
    ACCOUNT = "account"  # any signed-in user, about themselves (no workspace)


GRANTS: dict[str, frozenset[Need]] = {
    Role.OWNER: frozenset({Need.VIEW, Need.LABEL, Need.TRAIN, Need.OWN}),
    Role.TRAINER: frozenset({Need.VIEW, Need.LABEL, Need.TRAIN}),
    Role.LABELER: frozenset({Need.VIEW, Need.LABEL}),
    Role.VIEWER: frozenset({Need.VIEW}),
}
# A training key is the resource's full API access (as on Azure); a prediction key only predicts, which the
# prediction API checks by the header itself.
KEY_GRANTS: dict[str, frozenset[Need]] = {
    WorkspaceKey.Kind.TRAINING: frozenset({Need.VIEW, Need.LABEL, Need.TRAIN, Need.OWN}),
    WorkspaceKey.Kind.PREDICTION: frozenset({Need.VIEW}),
}


@dataclass(frozen=True)
class KeyPrincipal:
    """The API acting with one workspace key: stands in for ``request.user`` on key-authenticated requests."""

    workspace_id: UUID
    kind: str
    slot: int
    is_authenticated = True
    is_active = True
    pk = None
    id = None

    def get_username(self) -> str:
        """The key as its workspace's Keys page names it ("Training Key 1"): the audit log's actor."""
        return f"{WorkspaceKey.Kind(self.kind).label} Key {self.slot}"

    def __str__(self) -> str:
        return self.get_username()


def principal_for_key(*, kind: str, key: str) -> KeyPrincipal | None:
    # key is unique: no ORDER BY (compiling the model's ordering was half of this lookup's 0.33 ms)
    found = list(WorkspaceKey.objects.filter(kind=kind, key=key).order_by().values_list("workspace_id", "slot")[:1]
                 if key else ())
    return KeyPrincipal(found[0][0], kind, found[0][1]) if found else None


def user_of(principal: Any) -> Any | None:
    """The user behind a principal (None for a key or an anonymous visitor): for created_by/requested_by."""
    if isinstance(principal, KeyPrincipal) or not getattr(principal, "is_authenticated", False):
        return None
    return principal


def workspace_ids_of(principal: Any) -> Collection[UUID] | QuerySet[Any]:
    """The workspaces whose projects the principal may see (a subquery for a user)."""
    if isinstance(principal, KeyPrincipal):
        return [principal.workspace_id]
    if not getattr(principal, "is_authenticated", False):
        return []
    return Membership.objects.filter(user=principal).values("workspace_id")


def role_of(principal: Any, workspace_id: UUID | None) -> str | None:
    if workspace_id is None or isinstance(principal, KeyPrincipal) or not getattr(principal, "is_authenticated", False):
        return None
    return Membership.objects.filter(user=principal, workspace_id=workspace_id).values_list("role", flat=True).first()


def _role_and_grants(principal: Any, workspace_id: UUID | None) -> tuple[str | None, frozenset[Need] | None]:
    """(the user's role or None, what the principal may do there or None when not a member): one query."""
    if workspace_id is None:
        return None, None
    if isinstance(principal, KeyPrincipal):
        return None, (KEY_GRANTS[principal.kind] if principal.workspace_id == workspace_id else None)
    role = role_of(principal, workspace_id)
    return role, (GRANTS[role] if role else None)


def grants_of(principal: Any, workspace_id: UUID | None) -> frozenset[Need] | None:
    """What the principal may do in the workspace; None when it is not a member (or the workspace is unknown)."""
    return _role_and_grants(principal, workspace_id)[1]


def can(principal: Any, workspace_id: UUID | None, need: Need) -> bool:
    return need in (grants_of(principal, workspace_id) or ())


def require(principal: Any, workspace_id: UUID | None, need: Need) -> frozenset[Need]:
    """Http404 for a non-member, PermissionDenied (403) for a member without ``need``; else the grants."""
    return _require(principal, workspace_id, need)[1]


def _require(principal: Any, workspace_id: UUID | None, need: Need) -> tuple[str | None, frozenset[Need]]:
    role, grants = _role_and_grants(principal, workspace_id)
    if grants is None:
        raise Http404("Not found.")
    if need not in grants:
        raise PermissionDenied(f"Your role in this workspace does not allow this ({need.value}).")
    return role, grants


# ------------------------------------------------------------------------------ the workspace a URL is about

# URL keyword -> (model, path to its workspace id): the workspace that the named object lives in. Each app adds
# its own objects in AppConfig.ready (projects: project_id, image_id; training: iteration_id; ...).
_resolvers: dict[str, tuple[type[Model], str]] = {}


def resolver_add(kwarg: str, model: type[Model], workspace_path: str) -> None:
    _resolvers[kwarg] = (model, workspace_path)


def _resolve(kwarg: str, value: Any) -> UUID | None:
    model, path = _resolvers[kwarg]
    found: UUID | None = model._default_manager.filter(pk=value).values_list(path, flat=True).first()
    return found


resolver_add("workspace_id", Workspace, "pk")

SESSION_KEY = "tagsight_workspace"


def personal_workspace(user: Any) -> Workspace:
    """The user's personal workspace (created, with their Owner membership and keys, if missing)."""
    from workspaces.services import personal_workspace_ensure

    return personal_workspace_ensure(user=user)


def current_workspace_id(request: HttpRequest) -> UUID:
    """The workspace the top bar's switcher has chosen (the personal one until the user switches)."""
    chosen = request.session.get(SESSION_KEY)
    if chosen and workspace_ids_of(request.user).filter(workspace_id=chosen).exists():  # type: ignore[union-attr]
        return UUID(str(chosen))
    return personal_workspace(request.user).id


@dataclass(frozen=True)
class Access:
    """What the request's principal may do in the workspace the request is about (``request.access``)."""

    workspace_id: UUID | None
    grants: frozenset[Need]
    role: str | None = None

    def require(self, need: Need) -> None:
        """For a view that needs more for one of its actions (deleting images needs TRAIN): 403 without it."""
        if need not in self.grants:
            raise PermissionDenied(f"Your role in this workspace does not allow this ({need.value}).")

    @property
    def can_view(self) -> bool:
        return Need.VIEW in self.grants

    @property
    def can_label(self) -> bool:
        return Need.LABEL in self.grants

    @property
    def can_train(self) -> bool:
        return Need.TRAIN in self.grants

    @property
    def can_own(self) -> bool:
        return Need.OWN in self.grants


def _workspace_for(request: HttpRequest, kwargs: dict[str, Any]) -> UUID | None:
    for name, value in kwargs.items():
        if name in _resolvers:
            return _resolve(name, value)
    return current_workspace_id(request)


View = TypeVar("View", bound=Callable[..., HttpResponseBase])


def access(need: Need, *, post: Need | None = None) -> Callable[[View], View]:
    """Declare and enforce what a portal view needs (``post``: what a POST needs, when it differs).

    Signed out: to the sign-in page. The workspace is the one of the first object named in the URL (404 when
    there is no such object or the user is not a member), else the current one; then 403 without the right.
    The declaration is kept on the view (``view.access``) for the route x role tests."""

    def decorator(view: View) -> View:
        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            required = post if post is not None and request.method == "POST" else need
            if required is Need.ACCOUNT:
                request.access = Access(None, frozenset())  # type: ignore[attr-defined]
            else:
                workspace_id = _workspace_for(request, kwargs)
                role, grants = _require(request.user, workspace_id, required)
                request.access = Access(workspace_id, grants, role)  # type: ignore[attr-defined]
            with audit.acting_as(audit.actor_for(request, request.user)):
                return view(request, *args, **kwargs)

        wrapped.access = (need, post or need)  # type: ignore[attr-defined]
        return cast(View, wrapped)

    return decorator
