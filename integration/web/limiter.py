"""Request rate limits of the web process: token buckets in Redis, shared by every web worker.

A `Limiter` is one kind of bucket (an API key's, the collector's per public key or per address).
While Redis cannot be reached, requests go through unlimited rather than fail: limits protect the
service, and an outage of the limits must not become an outage of the service. Redis is tried
again REDIS_PAUSE_SECONDS after a failure; each change between kept and not kept is logged once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from flask import current_app
from redis import RedisError

from connectors.limits import Take, TokenBucket
from integration.operations.logs import describe
from integration.settings import Settings
from integration.store.redis import quick_connection

logger = logging.getLogger(__name__)

# After a failure to reach Redis (which gets QUICK_TIMEOUT_SECONDS to answer), requests go
# unlimited this long before Redis is tried again.
REDIS_PAUSE_SECONDS = 5.0


class Limiter:
    """Buckets of one kind, refilled at `rate` a second and holding at most `burst`."""

    def __init__(self, settings: Settings, name: str, rate: float, burst: int, label: str) -> None:
        self.bucket = TokenBucket(quick_connection(settings), name, rate, burst)
        self.label = label
        self.down = False
        self.retry_at = 0.0
        self.lock = threading.Lock()

    def take(self, key: int | str) -> Take | None:
        """Take a token of the key's bucket; None while Redis cannot be reached (no limit then)."""
        if self.down and time.monotonic() < self.retry_at:
            return None
        try:
            take = self.bucket.take(str(key))
        except RedisError as exc:
            self.retry_at = time.monotonic() + REDIS_PAUSE_SECONDS
            self._change(down=True, exc=exc)
            return None
        self._change(down=False)
        return take

    def _change(self, down: bool, exc: Exception | None = None) -> None:
        if down == self.down:
            return
        with self.lock:
            if down == self.down:
                return
            self.down = down
        if exc is not None:
            logger.warning("%s unavailable, requests go through unlimited: %s", self.label, describe(exc))
        else:
            logger.info("%s kept again", self.label)


def app_limiter(name: str, make: Callable[[], Limiter]) -> Limiter:
    """The app's limiter called `name`, made on first use (one per web process)."""
    key = f"storepulse.limiter.{name}"
    limiter: Limiter | None = current_app.extensions.get(key)
    if limiter is None:
        limiter = current_app.extensions[key] = make()
    return limiter
