"""Limits on failed sign-ins: per client address and per account (or per unknown email).

Each scope has a token bucket in Redis holding its allowed failures, refilled over the window
(`signin_failures_per_*` per `signin_failure_window_seconds`). A failure takes a token; an attempt
finding either bucket empty is refused before the password is checked, with the seconds until it
refills. A success takes nothing. With Redis unreachable sign-in goes on unlimited (logged once
each way), since locking every merchant out would be worse than an unthrottled guess.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time

from flask import current_app
from redis import RedisError

from connectors.limits import TokenBucket
from integration.operations.logs import describe
from integration.settings import Settings
from integration.store.redis import quick_connection
from integration.web.context import current_settings

logger = logging.getLogger(__name__)

REDIS_PAUSE_SECONDS = 5.0  # after a failure, Redis is left alone this long
EXTENSION = "storepulse.signin_attempts"


def scopes(address: str | None, account_id: int | None, email: str) -> tuple[str, str]:
    """The names of an attempt's two buckets: its address, and its account or (unknown) email digest."""
    account = (
        f"account:{account_id}"
        if account_id is not None
        else ("email:" + hashlib.sha256(email.strip().lower().encode()).hexdigest())
    )
    return f"address:{address or 'unknown'}", account


class SignInAttempts:
    """The sign-in failure buckets of an app, and whether Redis answers."""

    def __init__(self, settings: Settings) -> None:
        client = quick_connection(settings)
        window = settings.signin_failure_window_seconds
        per_address, per_account = settings.signin_failures_per_address, settings.signin_failures_per_account
        self.address = TokenBucket(client, "signin-address", per_address / window, per_address)
        self.account = TokenBucket(client, "signin-account", per_account / window, per_account)
        self.down = False
        self.retry_at = 0.0
        self.lock = threading.Lock()

    def wait(self, address: str, account: str) -> float:
        """Seconds until an attempt of these scopes may be made (0: now)."""
        if not self._reachable():
            return 0.0
        try:
            waits = (self.address.wait(address), self.account.wait(account))
        except RedisError as exc:
            self._failed(exc)
            return 0.0
        self._answered()
        return max(waits)

    def failed(self, address: str, account: str) -> None:
        """Count a failed attempt against both scopes."""
        if not self._reachable():
            return
        try:
            self.address.take(address)
            self.account.take(account)
        except RedisError as exc:
            self._failed(exc)
            return
        self._answered()

    def _reachable(self) -> bool:
        return not self.down or time.monotonic() >= self.retry_at

    def _failed(self, exc: Exception) -> None:
        self.retry_at = time.monotonic() + REDIS_PAUSE_SECONDS
        with self.lock:
            if self.down:
                return
            self.down = True
        logger.warning("sign-in limits unavailable, attempts go through unlimited: %s", describe(exc))

    def _answered(self) -> None:
        with self.lock:
            if not self.down:
                return
            self.down = False
        logger.info("sign-in limits kept again")


def attempts() -> SignInAttempts:
    """This app's sign-in limits, made on first use."""
    made: SignInAttempts | None = current_app.extensions.get(EXTENSION)
    if made is None:
        made = current_app.extensions[EXTENSION] = SignInAttempts(current_settings())
    return made
