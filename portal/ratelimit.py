"""The prediction API's rate limit: transactions per second per prediction key, counted in the shared cache.

A fixed one-second window per key: the cache's atomic ``add`` starts the window's counter, its atomic ``incr``
counts; the shared cache is the database (embedded profile) or Redis (production), so every gunicorn worker and
every machine counts together. Over the limit the API answers 429 with ``Retry-After: 1`` (the next window).
"""

from __future__ import annotations

import logging
import math
import time

from django.conf import settings
from django.core.cache import caches

logger = logging.getLogger(__name__)

WINDOW_TTL = 10  # seconds a window's counter is kept (it is only read during its own second)


def rate_limit_hit(*, key: str, limit: int, now: float | None = None) -> int:
    """Count one transaction for ``key``: 0 when it is within ``limit`` per second, else the seconds to wait.

    A shared cache that cannot be reached lets the call through (logged): the limit protects the service, it
    must not take the prediction API down with it.
    """
    if limit <= 0:
        return 0
    now = time.time() if now is None else now
    window = int(now)
    name = f"ratelimit:{key}:{window}"
    cache = caches["shared"]
    try:
        cache.add(name, 0, timeout=WINDOW_TTL)
        try:
            count = int(cache.incr(name))
        except ValueError:  # the counter expired between add and incr (a very slow cache): start it again
            cache.set(name, 1, timeout=WINDOW_TTL)
            count = 1
    except Exception:  # noqa: BLE001 - any cache failure: fail open, say so
        logger.warning("rate limit counter unavailable for %s; letting the call through", key, exc_info=True)
        return 0
    if count <= limit:
        return 0
    return max(1, math.ceil(window + 1 - now))  # the next window


def prediction_key_throttle(*, workspace_id: object, slot: int) -> int:
    """Seconds a prediction key must wait (0: go ahead), by TAGSIGHT_PREDICTION_RATE_LIMIT."""
    return rate_limit_hit(key=f"prediction:{workspace_id}:{slot}", limit=settings.TAGSIGHT_PREDICTION_RATE_LIMIT)
