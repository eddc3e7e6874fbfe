"""The prediction API's rate limit: transactions per second per prediction key, counted in the shared cache.

A fixed one-second window per key: the cache's atomic ``add`` starts the window's counter, its atomic ``incr``
counts; the shared cache is the database (embedded profile) or Redis (production), so every gunicorn worker and
every machine counts together.

A call over the limit is first held, not refused (like nginx's ``limit_req`` with a burst): it reserves a place in
one of the next ``TAGSIGHT_PREDICTION_RATE_HOLD`` windows and waits for it, so a client that is only a little
over-eager (an SDK loop, a few threads) is slowed to the limit and never sees an error. Microsoft's Python SDK
needs that: with urllib3 2 it does not retry a 429 on a POST, and every prediction is a POST. Only when those
windows are full too, or this process already holds ``HOLDERS_PER_PROCESS`` calls (held calls occupy web threads;
the others must stay free for other keys), the API answers 429 with ``Retry-After`` and Azure's error body.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import caches

logger = logging.getLogger(__name__)

WINDOW_TTL = 10  # seconds a window's counter is kept (it is only read during its own second, or before it)
HOLDERS_PER_PROCESS = 2  # calls one web process may hold at once (gunicorn runs 4 threads per process)
_holders = threading.BoundedSemaphore(HOLDERS_PER_PROCESS)


@dataclass(frozen=True)
class Slot:
    """What a call gets: ``delay`` seconds to wait before going ahead, or, when ``retry_after`` > 0, a refusal."""

    delay: float = 0.0
    retry_after: int = 0


def _count(*, name: str) -> int:
    cache = caches["shared"]
    cache.add(name, 0, timeout=WINDOW_TTL)
    try:
        return int(cache.incr(name))
    except ValueError:  # the counter expired between add and incr (a very slow cache): start it again
        cache.set(name, 1, timeout=WINDOW_TTL)
        return 1


def rate_limit_reserve(*, key: str, limit: int, hold: int = 0, now: float | None = None) -> Slot:
    """Count one transaction for ``key`` in the first one-second window, this one or one of the next ``hold``,
    that still has room under ``limit``; refuse it when none has.

    A shared cache that cannot be reached lets the call through (logged): the limit protects the service, it
    must not take the prediction API down with it.
    """
    if limit <= 0:
        return Slot()
    now = time.time() if now is None else now
    first = int(now)
    try:
        for window in range(first, first + hold + 1):
            if _count(name=f"ratelimit:{key}:{window}") <= limit:
                return Slot(delay=max(0.0, window - now))
    except Exception:  # noqa: BLE001 - any cache failure: fail open, say so
        logger.warning("rate limit counter unavailable for %s; letting the call through", key, exc_info=True)
        return Slot()
    return Slot(retry_after=max(1, math.ceil(first + hold + 1 - now)))  # the first window not yet reserved


def prediction_key_admit(*, workspace_id: object, slot: int) -> int:
    """Admit one Prediction API call of a key by TAGSIGHT_PREDICTION_RATE_LIMIT: returns 0 once it may go ahead
    (after holding it for its reserved window if need be), else the seconds the client must wait (a 429)."""
    limit, hold = settings.TAGSIGHT_PREDICTION_RATE_LIMIT, settings.TAGSIGHT_PREDICTION_RATE_HOLD
    key = f"prediction:{workspace_id}:{slot}"
    if limit <= 0:
        return 0
    now = time.time()
    answer = rate_limit_reserve(key=key, limit=limit, now=now)
    if not answer.retry_after or hold <= 0:
        return answer.retry_after
    if not _holders.acquire(blocking=False):  # this process holds enough calls already: refuse at once
        return answer.retry_after
    try:
        answer = rate_limit_reserve(key=key, limit=limit, hold=hold, now=now)
        if answer.retry_after:
            return answer.retry_after
        time.sleep(max(0.0, answer.delay - (time.time() - now)))
        return 0
    finally:
        _holders.release()
