"""What a receiver remembers between requests: who a key or a store is, for a few seconds.

Receivers answer most deliveries without asking the database who sent them: each web process keeps
what it read (absence too) for `seconds`, at most `size` entries, forgetting the least recently
used first. A change in the store (a disconnection, a new secret) reaches every process within
`seconds`.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from flask import current_app

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

CACHE_SECONDS = 10.0  # how long a process trusts what it read
CACHE_SIZE = 10_000  # entries per process, the least recently used forgotten first


class TimedCache(Generic[K, V]):
    """Values read at most `seconds` ago, by key; thread-safe."""

    def __init__(
        self,
        seconds: float = CACHE_SECONDS,
        size: int = CACHE_SIZE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.seconds, self.size, self.clock = seconds, size, clock
        self.entries: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: K, read: Callable[[K], V]) -> V:
        """The value of `key`, read with `read` when not known or known too long ago."""
        now = self.clock()
        with self.lock:
            entry = self.entries.get(key)
            if entry is not None and entry[0] > now:
                self.entries.move_to_end(key)
                return entry[1]
        value = read(key)
        with self.lock:
            self.entries[key] = (now + self.seconds, value)
            self.entries.move_to_end(key)
            while len(self.entries) > self.size:
                self.entries.popitem(last=False)
        return value

    def forget(self, key: K) -> None:
        """Read `key` again next time (a value that must not be trusted for long, such as an absence)."""
        with self.lock:
            self.entries.pop(key, None)


def process_cache(name: str) -> TimedCache[K, V]:
    """This web process's cache called `name` (made on first use)."""
    cache: TimedCache[K, V] | None = current_app.extensions.get(name)
    if cache is None:
        cache = current_app.extensions[name] = TimedCache()
    return cache
