"""Rate limits shared by every process: the vendors' (per vendor API key) and our own API's.

- `Slots`: at most `limit` requests in flight at once (Mailchimp's 10 simultaneous connections
  per API key). Each request holds a slot while it is on the wire; a slot expires after
  `SLOT_TTL_SECONDS`, so a process killed mid-request does not keep it.
- `Pace`: calls spaced so that no sliding window holds more than its limit (Klaviyo's burst and
  steady windows), widened by a margin so calls still fit when they arrive late; the server's own
  count is honoured too: `RateLimit-Remaining: 0` or a 429's `Retry-After` holds every caller of the
  key back until the time given.

Both live in Redis under a SHA-256 digest of the API key (the key itself is never stored), with
Redis's clock, so processes on several machines agree. Without Redis (a process on its own) the
same limits are kept in the process. Redis unreachable raises RetriableConnectorError: the
contacts wait for the next run rather than go out unpaced.

- `TokenBucket`: a bucket of `burst` tokens refilled at `rate` a second, in Redis with Redis's
  clock; a call takes a token or is told how long until one is there (storepulse's own API, per
  key id). It answers rather than waits, and leaves Redis errors to its caller.
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import requests
from redis import Redis, RedisError

from connectors.http import retry_after
from integration.errors import RetriableConnectorError

SLOT_TTL_SECONDS = 180.0  # longer than Mailchimp's 120 s per call and our own timeouts
SLOT_POLL_SECONDS = 0.01
MAX_SLOT_WAIT_SECONDS = 900.0  # then the batch is retried on the next run
# Calls leave here some time before they reach the vendor (connection set-up, network), and not
# all equally late: each window is counted this much longer than documented.
WINDOW_MARGIN_SECONDS = 0.25

# A slot for `token` if fewer than ARGV[2] are held (expired ones dropped); 1 if taken, else 0.
_TAKE_SLOT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
  return 1
end
return 0
"""

# Count a call for `ARGV[1]` if every window (ARGV: span ms, limit, ...) has room and no hold is
# set: return 0. Otherwise return the milliseconds until it may.
_TAKE_CALL = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local wait = tonumber(redis.call('GET', KEYS[2]) or '0') - now
local longest = 0
for i = 2, #ARGV, 2 do
  longest = math.max(longest, tonumber(ARGV[i]))
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - longest)
for i = 2, #ARGV, 2 do
  local span = tonumber(ARGV[i])
  local limit = tonumber(ARGV[i + 1])
  local recent = redis.call('ZRANGEBYSCORE', KEYS[1], now - span + 1, '+inf', 'WITHSCORES')
  local count = #recent / 2
  if count >= limit then
    wait = math.max(wait, tonumber(recent[(count - limit) * 2 + 2]) + span - now)
  end
end
if wait > 0 then
  return wait
end
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('PEXPIRE', KEYS[1], longest)
return 0
"""

# Hold calls back until `now + ARGV[1]` ms, unless a later hold is set already.
_HOLD = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local until_ms = now + tonumber(ARGV[1])
if until_ms > tonumber(redis.call('GET', KEYS[1]) or '0') then
  redis.call('SET', KEYS[1], until_ms, 'PX', tonumber(ARGV[1]))
end
return until_ms
"""


# The bucket KEYS[1] (ARGV: rate per second, burst, and 1 to take a token or 0 only to look): returns
# whether a token was taken, the tokens left, the seconds until there is one (0: there is one now,
# or one was taken) and the seconds until the bucket is full again.
_BUCKET_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local take = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local taken = 0
if take == 1 and tokens >= 1 then
  tokens = tokens - 1
  taken = 1
end
local full = (burst - tokens) / rate
if take == 1 then
  redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
  redis.call('PEXPIRE', KEYS[1], math.ceil(full * 1000) + 1000)
end
local wait = 0
if taken == 0 and tokens < 1 then
  wait = (1 - tokens) / rate
end
return {taken, tostring(tokens), tostring(wait), tostring(full)}
"""


@dataclass(frozen=True)
class Take:
    """A token bucket's answer: whether a token was taken, what is left, and the waits (seconds)."""

    allowed: bool
    remaining: int
    retry_after: float
    full_in: float


class TokenBucket:
    """`burst` calls at once, then `rate_per_second` a second, per name, kept in Redis.

    The bucket survives the processes that use it; an idle bucket expires once it would be full.
    Redis errors are raised: the caller decides between letting the call through or refusing it.
    """

    def __init__(self, redis: Redis, prefix: str, rate_per_second: float, burst: int) -> None:
        self.prefix = f"storepulse:bucket:{prefix}"
        self.rate = rate_per_second
        self.burst = burst
        self.script = redis.register_script(_BUCKET_SCRIPT)

    def take(self, name: str) -> Take:
        """Take a token of `name`'s bucket if there is one."""
        taken, tokens, wait, full = self.script(
            keys=[f"{self.prefix}:{name}"], args=[self.rate, self.burst, 1]
        )
        return Take(bool(taken), int(float(tokens)), float(wait), float(full))

    def wait(self, name: str) -> float:
        """Seconds until `name`'s bucket holds a token (0: it holds one now); takes nothing."""
        _taken, _tokens, wait, _full = self.script(
            keys=[f"{self.prefix}:{name}"], args=[self.rate, self.burst, 0]
        )
        return float(wait)


def key_digest(api_key: str) -> str:
    """A name for an API key's shared limits that does not reveal the key."""
    return hashlib.sha256(api_key.encode()).hexdigest()


class Slots:
    """At most `limit` requests at once per name, across threads (and processes, with Redis)."""

    def __init__(
        self,
        name: str,
        limit: int,
        redis: Redis | None = None,
        *,
        ttl_seconds: float = SLOT_TTL_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.key = f"storepulse:slots:{name}"
        self.limit = limit
        self.redis = redis
        self.ttl_ms = int(ttl_seconds * 1000)
        self.sleep = sleep
        self.local = _local_semaphore(self.key, limit) if redis is None else None

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one slot for the duration of the block (wait for one to be free)."""
        if self.local is not None:
            if not self.local.acquire(timeout=MAX_SLOT_WAIT_SECONDS):
                raise RetriableConnectorError("no free connection to the vendor")
            try:
                yield
            finally:
                self.local.release()
            return
        assert self.redis is not None  # noqa: S101 - one of the two is set
        token = uuid.uuid4().hex
        waited = 0.0
        while not _redis(self.redis.eval, _TAKE_SLOT, 1, self.key, token, self.limit, self.ttl_ms):
            if waited >= MAX_SLOT_WAIT_SECONDS:
                raise RetriableConnectorError("no free connection to the vendor")
            self.sleep(SLOT_POLL_SECONDS)
            waited += SLOT_POLL_SECONDS
        try:
            yield
        finally:
            try:
                self.redis.zrem(self.key, token)
            except RedisError:  # the slot expires by itself
                pass


_local_semaphores: dict[str, threading.BoundedSemaphore] = {}
_local_paces: dict[str, Pace] = {}
_local_lock = threading.Lock()


def _local_semaphore(key: str, limit: int) -> threading.BoundedSemaphore:
    with _local_lock:
        return _local_semaphores.setdefault(key, threading.BoundedSemaphore(limit))


class Pace:
    """Calls paced to sliding windows [(seconds, calls), ...] per name, with the server's holds.

    Use `Pace.shared` so that every user of a name in this process counts in the same place.
    """

    def __init__(
        self,
        name: str,
        windows: tuple[tuple[float, int], ...],
        redis: Redis | None = None,
        *,
        margin_seconds: float = WINDOW_MARGIN_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.key = f"storepulse:pace:{name}"
        self.windows = tuple((span + margin_seconds, limit) for span, limit in windows)
        self.redis = redis
        self.sleep = sleep
        self.clock = clock
        self.calls: deque[float] = deque()  # without Redis: this process's calls
        self.held_until = 0.0
        self.lock = threading.Lock()

    @classmethod
    def shared(
        cls,
        name: str,
        windows: tuple[tuple[float, int], ...],
        redis: Redis | None,
        *,
        margin_seconds: float = WINDOW_MARGIN_SECONDS,
    ) -> Pace:
        """The pace of `name`: in Redis if given, else one object per name in this process."""
        if redis is not None:
            return cls(name, windows, redis, margin_seconds=margin_seconds)
        with _local_lock:
            return _local_paces.setdefault(name, cls(name, windows, margin_seconds=margin_seconds))

    @contextmanager
    def gate(self) -> Iterator[None]:
        """Wait until one more call fits, count it, and let it go."""
        self.wait()
        yield

    def wait(self) -> None:
        """Sleep until one more call fits in every window, then count it."""
        if self.redis is None:
            self._wait_here()
            return
        args: list[Any] = [uuid.uuid4().hex]
        for span, limit in self.windows:
            args += [int(span * 1000), limit]
        while wait_ms := int(_redis(self.redis.eval, _TAKE_CALL, 2, self.key, f"{self.key}:hold", *args)):
            self.sleep(wait_ms / 1000)

    def _wait_here(self) -> None:
        longest = max(span for span, _ in self.windows)
        with self.lock:
            while True:
                now = self.clock()
                while self.calls and now - self.calls[0] >= longest:
                    self.calls.popleft()
                waits = [self.held_until - now]
                for span, limit in self.windows:
                    recent = [t for t in self.calls if now - t < span]
                    if len(recent) >= limit:
                        waits.append(recent[-limit] + span - now)
                wait = max(waits)
                if wait <= 0:
                    self.calls.append(now)
                    return
                self.sleep(wait)

    def observe(self, response: requests.Response) -> None:
        """Hold every caller back when the server says: nothing remains, or a 429's Retry-After."""
        if response.status_code == 429:
            self.hold(retry_after(response, 1.0))
            return
        try:
            remaining = int(response.headers["RateLimit-Remaining"])
            reset = float(response.headers.get("RateLimit-Reset", "1"))
        except (KeyError, ValueError):
            return
        if remaining <= 0:
            self.hold(reset)

    def hold(self, seconds: float) -> None:
        """No call before `seconds` from now."""
        if seconds <= 0:
            return
        if self.redis is None:
            # No lock: a waiter may hold it while it sleeps; a late hold is read on its next turn.
            self.held_until = max(self.held_until, self.clock() + seconds)
            return
        _redis(self.redis.eval, _HOLD, 1, f"{self.key}:hold", int(seconds * 1000))


def _redis(command: Callable[..., Any], *args: Any) -> Any:
    """Run a Redis command; unreachable Redis is a passing problem of the vendor call."""
    try:
        return command(*args)
    except RedisError as exc:
        raise RetriableConnectorError(f"the vendor's limits are unavailable: {exc}") from exc
