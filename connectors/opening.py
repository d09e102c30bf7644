"""What a destination connector is opened with for one sync run: its settings, secrets and clients."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from redis import Redis

from connectors.http import Http
from integration.contract import Target
from integration.settings import Settings


@dataclass(frozen=True)
class Opening:
    """A destination row read for a run: its settings (`config`) and decrypted credentials (`secrets`).

    `http` builds the HTTP client for a vendor (tests pass their own); `redis` holds the vendors'
    limits per API key for every process (without it they hold within this process only).
    """

    settings: Settings
    target: Target
    config: dict[str, Any]
    secrets: dict[str, Any]
    http: Callable[[str], Http]
    redis: Redis | None = None
    # How clients that pace themselves wait (tests record the waits instead).
    sleep: Callable[[float], None] = time.sleep

    @property
    def tag(self) -> str:
        """The tag the sync writes (its segment's name under the prefix)."""
        return str(self.target.config.get("tag") or "")
