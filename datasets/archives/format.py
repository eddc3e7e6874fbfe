"""The archive format: member names, the manifest, and the errors a bad archive raises.

An archive is a zip. ``manifest.json`` (written last) names the format and its version, the server that wrote it,
when, the counts, and the SHA-256 of every other member. ``project.json`` holds the project's settings, tags, images
(with their tags, regions, metadata and created dates) and iterations (with what their rows hold). The stored
originals lie under ``images/<image id>/``, each iteration's model under ``iterations/<iteration id>/``.
"""

from __future__ import annotations

FORMAT = "tagsight-project-archive"
VERSION = 1
MANIFEST = "manifest.json"
PROJECT = "project.json"


class ArchiveError(Exception):
    """An archive that cannot be imported (or a project that cannot be archived); ``problems`` says why, each in
    a sentence for the person who chose the file."""

    def __init__(self, problems: str | list[str]) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__(" ".join(self.problems))

    @property
    def message(self) -> str:
        return " ".join(self.problems)


def image_member(*, image_id: str, extension: str) -> str:
    return f"images/{image_id}/original.{extension}"


def iteration_member(*, iteration_id: str, rel: str) -> str:
    return f"iterations/{iteration_id}/{rel}"


def safe_rel(rel: str) -> bool:
    """A relative path inside an archive folder that stays inside it (no absolute path, no "..", no backslash)."""
    parts = rel.split("/")
    return bool(rel) and not rel.startswith("/") and "\\" not in rel and all(p not in ("", ".", "..") for p in parts)
