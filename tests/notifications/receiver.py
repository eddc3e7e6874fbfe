"""A real webhook receiver for tests: http.server in a thread on a free port, recording every request and checking
its signature the way the README tells receivers to (``notifications.signing.verify``, the documented algorithm)."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    signature_ok: bool

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    url: str
    secret: str = ""
    status: int = 204  # what it answers
    statuses: list[int] = field(default_factory=list)  # answered first, one per request (e.g. [500]: one failure)
    received: list[Received] = field(default_factory=list)


def readme_verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """The README's verification, written out independently of Tagsight's code."""
    timestamp = headers.get("X-Tagsight-Timestamp", "")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > 300:
        return False
    expected = "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, headers.get("X-Tagsight-Signature", ""))


@contextmanager
def webhook_receiver(path: str = "/hook") -> Iterator[Receiver]:
    receiver = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k: v for k, v in self.headers.items()}
            receiver.received.append(Received(headers, body, readme_verify(receiver.secret, headers, body)))
            self.send_response(receiver.statuses.pop(0) if receiver.statuses else receiver.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}{path}"
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


def closed_port_url() -> str:
    """The URL of a port nothing listens on (bound, then closed): connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/down"
