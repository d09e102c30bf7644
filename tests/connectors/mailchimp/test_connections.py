"""Mailchimp's 10 simultaneous connections are the API key's: shared by audiences and processes."""

from __future__ import annotations

import json
import multiprocessing
import re
import time
from typing import Any

import pytest
import redis
import responses

from connectors.http import Http
from connectors.limits import Slots
from connectors.mailchimp.destination import MAX_CONNECTIONS, MailchimpAudience
from integration.contract import ADD, Change
from integration.errors import RetriableConnectorError

KEY = "0123456789abcdef0123456789abcdef-us6"
API = "https://us6.api.mailchimp.com/3.0"
BATCH = re.compile(rf"{re.escape(API)}/lists/[^/]+$")
SEGMENT = re.compile(rf"{re.escape(API)}/lists/[^/]+/segments/\d+$")
IN_FLIGHT, PEAKS = "test:in-flight", "test:peaks"


def _sync_audience(url: str, list_id: str, start: int) -> None:
    """Upsert and tag 5,000 members of one audience of the shared key, counting calls in flight."""
    counter = redis.Redis.from_url(url)

    def busy(request: Any) -> tuple[int, dict[str, str], str]:
        counter.rpush(PEAKS, counter.incr(IN_FLIGHT))
        time.sleep(0.05)  # Mailchimp takes its time: calls overlap
        counter.decr(IN_FLIGHT)
        return 200, {}, json.dumps({"errors": [], "new_members": [], "updated_members": []})

    changes = [Change(ADD, start + i, f"p{start + i}@example.com") for i in range(5000)]
    with responses.RequestsMock() as mock:
        mock.add_callback(responses.POST, BATCH, callback=busy)
        mock.add_callback(responses.POST, SEGMENT, callback=busy)
        audience = MailchimpAudience(
            KEY, list_id, "vip", tag_id=7, http=Http("Mailchimp"), redis=redis.Redis.from_url(url)
        )
        delivery = audience.deliver(changes)
    assert len(delivery.done) == 5000
    assert not delivery.failed


@pytest.mark.slow
def test_two_audiences_of_one_key_in_two_processes_never_exceed_ten_connections(
    redis_url: str, redis_client: redis.Redis
) -> None:
    context = multiprocessing.get_context("fork")
    workers = [
        context.Process(target=_sync_audience, args=(redis_url, f"list{n}", n * 100_000)) for n in range(2)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
        assert worker.exitcode == 0
    peaks = [int(p) for p in redis_client.lrange(PEAKS, 0, -1)]
    assert len(peaks) == 2 * 2 * 10  # per audience: 10 upsert calls and 10 tag calls of 500
    assert max(peaks) <= MAX_CONNECTIONS
    assert max(peaks) > MAX_CONNECTIONS // 2  # and the budget is used, not one call at a time
    assert not redis_client.keys("*0123456789abcdef*")  # the key itself is never written to Redis


def test_a_slot_of_a_killed_process_expires(redis_client: redis.Redis) -> None:
    slots = Slots("test", 1, redis_client, ttl_seconds=0.3)
    taken = slots.slot()
    taken.__enter__()  # never released, as if its process was killed mid-request
    started = time.monotonic()
    with slots.slot():
        waited = time.monotonic() - started
    assert 0.2 <= waited < 2.0


def test_redis_unreachable_is_a_passing_problem_not_an_unlimited_call() -> None:
    gone = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5)
    with (
        pytest.raises(RetriableConnectorError, match="limits are unavailable"),
        Slots("test", 1, gone).slot(),
    ):
        pytest.fail("a call went out without a slot")
