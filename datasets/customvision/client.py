"""A small client of Azure Custom Vision's Training API (v3.3 routes), over HTTP with ``requests``: only the reads
an import needs (projects, domains, tags, tagged and untagged images, iterations) and the originals' download.

Throttling and transient failures are retried by urllib3's ``Retry`` (mounted on the session): 429 and 503 wait
the ``Retry-After`` the service sends, other 5xx and connection errors back off exponentially (capped). Anything
else is permanent and raised as :class:`CustomVisionError` with a sentence a person can act on. No Django here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.util import Retry

API = "/customvision/v3.3/training"
PAGE = 256  # Azure's largest ``take``
TIMEOUT = (10, 120)  # connect, read (an original may be 6 MB)


class CustomVisionError(Exception):
    """A request failed for good (after retries); ``message`` says what to do."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message, self.status = message, status


def retry_policy(*, tries: int = 8, backoff: float = 0.5, backoff_max: float = 30.0) -> Retry:
    """429/5xx and connection errors are retried; Retry-After is obeyed (up to 10 minutes a wait)."""
    return Retry(
        total=tries, connect=tries, read=tries, status=tries, other=0, redirect=3,
        status_forcelist=(429, 500, 502, 503, 504), allowed_methods=frozenset({"GET"}),
        backoff_factor=backoff, backoff_max=backoff_max, respect_retry_after_header=True, retry_after_max=600,
        raise_on_status=False,
    )


def endpoint_clean(endpoint: str) -> str:
    """The endpoint as the Azure portal shows it (``https://<name>.cognitiveservices.azure.com/``), checked."""
    endpoint = (endpoint or "").strip()
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise CustomVisionError("The endpoint must be a URL such as https://<name>.cognitiveservices.azure.com/.")
    return endpoint.rstrip("/")


@dataclass(frozen=True)
class SourceProject:
    id: str
    name: str
    description: str
    domain_id: str
    classification_type: str
    raw: dict[str, Any]


class TrainingClient:
    """Reads one Custom Vision resource with its training key."""

    def __init__(self, endpoint: str, training_key: str, *, retry: Retry | None = None) -> None:
        self.endpoint = endpoint_clean(endpoint)
        if not (training_key or "").strip():
            raise CustomVisionError("The training key is required.")
        adapter = HTTPAdapter(max_retries=retry or retry_policy())
        self.api = requests.Session()
        self.api.headers.update({"Training-Key": training_key.strip(), "Accept": "application/json"})
        # The originals are storage URLs with their own signature: never send them the key.
        self.files = requests.Session()
        for session in (self.api, self.files):
            session.mount("http://", adapter)
            session.mount("https://", adapter)

    def close(self) -> None:
        self.api.close()
        self.files.close()

    # -------------------------------------------------------------------------------------------- plumbing

    def _send(self, session: requests.Session, url: str, params: dict[str, Any] | None = None) -> requests.Response:
        try:
            return session.get(url, params=params, timeout=TIMEOUT)
        except requests.exceptions.RetryError as exc:
            raise CustomVisionError(
                f"{self.endpoint} kept refusing (throttled or failing) after several retries; try again later."
            ) from exc
        except requests.exceptions.ConnectionError as exc:
            raise CustomVisionError(f"Cannot reach {urlsplit(url).netloc}: check the endpoint.") from exc
        except requests.exceptions.Timeout as exc:
            raise CustomVisionError(f"{urlsplit(url).netloc} did not answer in time; try again later.") from exc
        except requests.exceptions.RequestException as exc:
            raise CustomVisionError(f"The request to {urlsplit(url).netloc} failed: {exc}") from exc

    def get(self, path: str, **params: Any) -> Any:
        response = self._send(self.api, self.endpoint + API + path, params or None)
        if response.status_code == 200:
            try:
                return response.json()
            except ValueError as exc:
                raise CustomVisionError(
                    f"{self.endpoint} did not answer like a Custom Vision Training endpoint (not JSON).", status=200
                ) from exc
        raise self._error(response)

    def _error(self, response: requests.Response) -> CustomVisionError:
        code, message = "", ""
        try:
            body = response.json()
            code, message = str(body.get("code", "")), str(body.get("message", ""))
        except (ValueError, AttributeError):
            pass
        status = response.status_code
        if status in (401, 403):
            text = "The training key was refused: copy Key 1 or Key 2 of the Custom Vision training resource."
        elif status == 404 and not code:
            text = f"{self.endpoint} has no Custom Vision Training API: check the endpoint."
        elif status == 429:
            text = f"{self.endpoint} is still throttling after several waits; try again later."
        else:
            text = f"{self.endpoint} answered {status}" + (f" ({code}: {message})" if code or message else "") + "."
        return CustomVisionError(text, status=status)

    # -------------------------------------------------------------------------------------------- reads

    def projects(self) -> list[SourceProject]:
        found = self.get("/projects")
        if not isinstance(found, list):
            raise CustomVisionError(f"{self.endpoint} did not answer like a Custom Vision Training endpoint.")
        return [self._project(p) for p in found]

    def project(self, project_id: str) -> SourceProject:
        return self._project(self.get(f"/projects/{project_id}"))

    @staticmethod
    def _project(raw: dict[str, Any]) -> SourceProject:
        settings = raw.get("settings") or {}
        return SourceProject(
            id=str(raw["id"]), name=str(raw.get("name") or ""), description=str(raw.get("description") or ""),
            domain_id=str(settings.get("domainId") or ""),
            classification_type=str(settings.get("classificationType") or "Multiclass"), raw=raw,
        )

    def domains(self) -> list[dict[str, Any]]:
        found = self.get("/domains")
        return found if isinstance(found, list) else []

    def tags(self, project_id: str) -> list[dict[str, Any]]:
        return list(self.get(f"/projects/{project_id}/tags"))

    def image_count(self, project_id: str) -> int:
        tagged = self.get(f"/projects/{project_id}/images/tagged/count")
        untagged = self.get(f"/projects/{project_id}/images/untagged/count")
        return int(tagged) + int(untagged)

    def iterations(self, project_id: str) -> list[dict[str, Any]]:
        return list(self.get(f"/projects/{project_id}/iterations"))

    def images(self, project_id: str) -> Iterator[dict[str, Any]]:
        """Every image of the project (tagged, then untagged), oldest first, a page of 256 at a time."""
        for which in ("tagged", "untagged"):
            skip = 0
            while True:
                page = self.get(f"/projects/{project_id}/images/{which}", take=PAGE, skip=skip, orderBy="Oldest")
                yield from page
                if len(page) < PAGE:
                    break
                skip += PAGE

    def download(self, url: str) -> bytes:
        """An image's original (``originalImageUri``: a signed storage URL)."""
        response = self._send(self.files, url)
        if response.status_code != 200:
            raise CustomVisionError(f"The original could not be downloaded ({response.status_code}).",
                                    status=response.status_code)
        return response.content
