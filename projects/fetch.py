"""Fetch an image from a user-given URL without SSRF: public addresses only, pinned IP, bounded size and time.

Used by create_images_from_urls and Quick Test by URL. The host is resolved once; every address must
be public (no loopback, private, link-local, cloud metadata, multicast or reserved ranges) unless
``settings.TAGSIGHT_ALLOW_PRIVATE_URLS``; the connection goes to that vetted address (no DNS rebinding).
Redirects are followed by hand, each hop vetted the same way.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from urllib.parse import urljoin, urlsplit

from django.conf import settings

from projects.images import megabytes

MAX_REDIRECTS = 3
TIMEOUT_SECONDS = 10.0
USER_AGENT = "Tagsight-ImageFetcher/1.0"


class FetchError(Exception):
    """The URL could not be fetched as an image; ``status`` is Azure's ImageCreateStatus."""

    def __init__(self, message: str, status: str = "ErrorSource") -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )


def _resolve(host: str, port: int) -> str:
    """A vetted address for host (the first acceptable one)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchError(f"Cannot resolve {host!r}.") from exc
    addresses = [info[4][0] for info in infos]
    if not addresses:
        raise FetchError(f"Cannot resolve {host!r}.")
    if not getattr(settings, "TAGSIGHT_ALLOW_PRIVATE_URLS", False):
        blocked = [a for a in addresses if not _is_public(str(a))]
        if blocked:
            raise FetchError(f"{host!r} resolves to a non-public address; refusing to fetch it.")
    return str(addresses[0])


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


def _read_bounded(response: http.client.HTTPResponse, url: str, limit: int, *, deadline: float) -> bytes:
    """At most limit bytes, within an overall deadline (a server dripping bytes can't hold a worker)."""
    chunks: list[bytes] = []
    size = 0
    while chunk := response.read(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise FetchError(f"{url} is larger than the {megabytes(limit)} limit.", "ErrorImageSize")
        if time.monotonic() > deadline:
            raise FetchError(f"{url} took too long to download.")
        chunks.append(chunk)
    return b"".join(chunks)


def pinned_connection(url: str, *, timeout: float = TIMEOUT_SECONDS) -> tuple[http.client.HTTPConnection, str]:
    """A not yet connected HTTP(S) connection to url's vetted address (public only, unless
    TAGSIGHT_ALLOW_PRIVATE_URLS), and the path to request. Raises FetchError. Also used by webhooks."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FetchError("Only http and https URLs can be fetched.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise FetchError("Invalid port in URL.") from exc
    address = _resolve(parts.hostname, port)
    cls = _PinnedHTTPSConnection if parts.scheme == "https" else _PinnedHTTPConnection
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return cls(parts.hostname, port, address, timeout), path


def fetch_image(url: str, *, timeout: float = TIMEOUT_SECONDS) -> bytes:
    """The bytes at url (an image content type, at most TAGSIGHT_MAX_IMAGE_BYTES). Raises FetchError."""
    limit = settings.TAGSIGHT_MAX_IMAGE_BYTES
    for _ in range(MAX_REDIRECTS + 1):
        conn, path = pinned_connection(url, timeout=timeout)
        try:
            conn.request("GET", path, headers={"User-Agent": USER_AGENT, "Accept": "image/*"})
            response = conn.getresponse()
            if response.status in (301, 302, 303, 307, 308):
                location = response.getheader("Location")
                if not location:
                    raise FetchError(f"Redirect without a Location from {url}.")
                url = urljoin(url, location)
                continue
            if response.status != 200:
                raise FetchError(f"{url} answered HTTP {response.status}.")
            content_type = (response.getheader("Content-Type") or "").split(";")[0].strip().lower()
            if not content_type.startswith("image/"):
                raise FetchError(
                    f"{url} is not an image (Content-Type {content_type or 'missing'}).", "ErrorImageFormat"
                )
            length = response.getheader("Content-Length")
            if length and length.isdigit() and int(length) > limit:
                raise FetchError(f"{url} is larger than the {megabytes(limit)} limit.", "ErrorImageSize")
            return _read_bounded(response, url, limit, deadline=time.monotonic() + timeout * 3)
        except (OSError, http.client.HTTPException) as exc:
            raise FetchError(f"Could not fetch {url}: {exc}") from exc
        finally:
            conn.close()
    raise FetchError(f"Too many redirects from {url}.")
