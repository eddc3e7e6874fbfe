"""Declarations of the Azure operations: a Route is one path with one Operation per HTTP method.

portal/azure/routes.py lists the Routes (the route table), Django dispatches through them, and
portal/azure/openapi.py writes the OpenAPI document from the same objects, so the document cannot list
an operation, a parameter or a status code that the table does not declare.

Schemas are written in the spec's own shorthand (shared/api/customvision-v3.md): ``"str"``, ``"int"``,
``"float"``, ``"bool"``, ``"uuid"``, ``"[X]"`` a list of X, ``"{X}"`` an object of X values, a capitalised
name a model (a component schema), ``None`` no body; a dict is a JSON schema as is (enums).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from django.http import HttpRequest, HttpResponse

from portal.azure.errors import error_response

Schema = str | dict[str, Any] | None
Api = Literal["training", "prediction"]

MULTIPART = "multipart"  # body: one part ``imageData`` (multipart/form-data), or the raw application/octet-stream

# Path parameters: the name in the path template -> (the handler's keyword argument, schema).
PATH_PARAMS: dict[str, tuple[str, Schema]] = {
    "projectId": ("project_id", "uuid"),
    "domainId": ("domain_id", "uuid"),
    "imageId": ("image_id", "uuid"),
    "iterationId": ("iteration_id", "uuid"),
    "tagId": ("tag_id", "uuid"),
    "publishedName": ("publish_name", {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,50}$"}),
}
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def one_of(*values: str) -> dict[str, Any]:
    """A string enumeration (``orderBy``, ``taggingStatus``, ...)."""
    return {"type": "string", "enum": list(values)}


@dataclass(frozen=True)
class Param:
    """A query parameter. List types are comma-separated on the wire (``tagIds=a,b``)."""

    name: str
    schema: Schema = "str"
    required: bool = False


@dataclass(frozen=True)
class Operation:
    method: str  # GET, POST, PATCH, DELETE
    operation_id: str  # Azure's (``GetProjects``); the SDK method is its snake_case (``get_projects``)
    handler: Callable[..., HttpResponse]
    responses: Mapping[int, Schema]  # every success status the SDKs accept, and its body
    query: Sequence[Param] = ()
    body: Schema = None  # None (no body), MULTIPART, or the JSON body's schema (optional: SDKs may send none)


def op(
    method: str,
    operation_id: str,
    handler: Callable[..., HttpResponse],
    responses: Mapping[int, Schema],
    *,
    query: Sequence[Param] = (),
    body: Schema = None,
) -> Operation:
    return Operation(method, operation_id, handler, responses, tuple(query), body)


@dataclass(frozen=True, eq=False)  # hashed by identity: Django's resolver keys its reverse map on the view
class Route:
    """One path of the API (template relative to its base, ``projects/{projectId}/tags``) and the view serving it.

    Calling it dispatches on the HTTP method to the operation's handler; a method it does not declare gets
    an Azure-style 405. ``kwargs`` are fixed handler arguments (``task`` for the prediction routes).
    """

    api: Api
    path: str
    operations: tuple[Operation, ...]
    kwargs: Mapping[str, str] = field(default_factory=dict)
    csrf_exempt = True  # key-authenticated, never cookie-authenticated (read by CsrfViewMiddleware)

    def __post_init__(self) -> None:
        unknown = set(self.path_params) - set(PATH_PARAMS)
        methods = [o.method for o in self.operations]
        if unknown or len(set(methods)) != len(methods):
            raise ValueError(f"Route {self.path}: unknown path parameters {unknown} or a method declared twice")

    @property
    def path_params(self) -> list[str]:
        return _PLACEHOLDER.findall(self.path)

    @property
    def regex(self) -> str:
        """``^projects/(?P<project_id>[^/]+)/tags$``: placeholders become the handler's keyword arguments."""
        parts = _PLACEHOLDER.split(self.path)  # literal, name, literal, name, ..., literal
        out = "".join(
            re.escape(part) if i % 2 == 0 else rf"(?P<{PATH_PARAMS[part][0]}>[^/]+)" for i, part in enumerate(parts)
        )
        return rf"^{out}$"

    def __call__(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        for operation in self.operations:
            if operation.method == request.method:
                return operation.handler(request, *args, **kwargs)
        response = error_response("BadRequest", f"Method {request.method} is not allowed here.", 405)
        response["Allow"] = ", ".join(sorted(o.method for o in self.operations))
        return response


def route(api: Api, path: str, *operations: Operation, **kwargs: str) -> Route:
    return Route(api, path, operations, kwargs)
