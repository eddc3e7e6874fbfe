"""The webhook signature: HMAC-SHA256 with the webhook's secret over ``timestamp + "." + body``.

The receiver recomputes it from the raw body and the ``X-Tagsight-Timestamp`` header, compares it with
``X-Tagsight-Signature`` (``sha256=<hex>``) in constant time, and refuses a timestamp older than REPLAY_SECONDS.
"""

from __future__ import annotations

import hashlib
import hmac
import time

REPLAY_SECONDS = 300


def signature(*, secret: str, timestamp: int | str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(*, secret: str, timestamp: str, body: bytes, header: str, now: float | None = None) -> bool:
    """What a receiver does (the README's snippet, as code the tests run)."""
    if not timestamp.isdigit() or abs((now or time.time()) - int(timestamp)) > REPLAY_SECONDS:
        return False
    return hmac.compare_digest(signature(secret=secret, timestamp=timestamp, body=body), header)
