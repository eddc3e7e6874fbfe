"""The base of every domain error (projects.errors.ProjectsError builds on it): a message, Azure's code, a status."""

from __future__ import annotations


class WorkspaceError(Exception):
    """Views show ``message``; the API sends ``code`` with ``status``."""

    code = "BadRequest"
    status = 400

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
