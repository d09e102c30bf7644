"""Klaviyo's limits: request bytes, burst and steady windows per API key, the server's rate headers."""

from __future__ import annotations

import json
import multiprocessing
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
import redis
import responses

from connectors.http import Http
from connectors.klaviyo.destination import MAX_JOB_BYTES, KlaviyoList
from connectors.limits import Pace
from integration.contract import ADD, REMOVE, Change

KEY = "pk_test_0123456789"
API = "https://a.klaviyo.com/api"
JOBS = f"{API}/profile-bulk-import-jobs"
JOB = re.compile(rf"{re.escape(JOBS)}/(?P<id>[^/?]+)$")
MEMBERSHIP = re.compile(rf"{re.escape(API)}/lists/[^/]+/relationships/profiles")
ARRIVALS = "test:arrivals"


def test_jobs_are_split_by_their_utf8_bytes_and_every_profile_goes_once() -> None:
    # 100 characters of CJK and emoji: 3 and 4 bytes in UTF-8, 6 and 12 as \\u escapes.
    name = "山田花子" * 24 + "🎉🎉🎉🎉"
    assert len(name) == 100
    changes = [
        Change(ADD, i, f"person{i}@example.com", first_name=name, last_name=name) for i in range(10_000)
    ]
    bodies: list[bytes] = []

    def post_job(request: Any) -> tuple[int, dict[str, str], str]:
        bodies.append(request.body)
        job = {
            "type": "profile-bulk-import-job",
            "id": f"job{len(bodies)}",
            "attributes": {"status": "queued"},
        }
        return 202, {}, json.dumps({"data": job})

    def get_job(request: Any) -> tuple[int, dict[str, str], str]:
        attributes = {"status": "complete", "failed_count": 0}
        job = {"type": "profile-bulk-import-job", "id": "job", "attributes": attributes}
        return 200, {}, json.dumps({"data": job})

    with responses.RequestsMock() as mock:
        mock.add_callback(responses.POST, JOBS, callback=post_job)
        mock.add_callback(responses.GET, JOB, callback=get_job)
        delivery = KlaviyoList(KEY, "VRgFBd", http=Http("Klaviyo", sleep=lambda _: None)).deliver(changes)

    assert sorted(delivery.done) == list(range(10_000))
    assert len(bodies) >= 2
    assert all(len(body) <= MAX_JOB_BYTES == 5_000_000 for body in bodies)
    sent: Counter[str] = Counter()
    for body in bodies:
        text = body.decode("utf-8")  # UTF-8 as such, not \\u escapes
        assert name in text
        assert "\\u" not in text
        sent.update(
            p["attributes"]["email"] for p in json.loads(text)["data"]["attributes"]["profiles"]["data"]
        )
    assert sent == Counter(f"person{i}@example.com" for i in range(10_000))
    # Split by bytes, the parts are as large as the limit lets them be.
    assert sum(len(b) for b in bodies) > (len(bodies) - 1) * (MAX_JOB_BYTES - 1000)


def _removals(count: int, start: int) -> list[Change]:
    return [
        Change(REMOVE, start + i, f"p{start + i}@example.com", remote_id=f"01P{start + i}")
        for i in range(count)
    ]


def _record_arrival(url: str, headers: Callable[[int], dict[str, str]] | None = None) -> Any:
    client = redis.Redis.from_url(url)

    def arrived(request: Any) -> tuple[int, dict[str, str], str]:
        index = client.rpush(ARRIVALS, repr(time.time()))
        return 204, headers(index) if headers else {}, ""

    return arrived


def _remove_from_list(url: str, list_id: str, calls: int, start: int) -> None:
    """Send `calls` list-removal calls as a destination of the shared key (in a process of its own)."""
    with responses.RequestsMock() as mock:
        mock.add_callback(responses.DELETE, MEMBERSHIP, callback=_record_arrival(url))
        destination = KlaviyoList(KEY, list_id, http=Http("Klaviyo"), redis=redis.Redis.from_url(url))
        delivery = destination.deliver(_removals(1000 * calls, start))
    assert not delivery.failed


def _arrivals(redis_client: redis.Redis) -> list[float]:
    return sorted(float(t) for t in redis_client.lrange(ARRIVALS, 0, -1))


def _most_in_any(window: float, times: list[float]) -> int:
    return max(sum(1 for t in times[i:] if t - start < window) for i, start in enumerate(times))


@pytest.mark.slow
def test_two_lists_of_one_key_in_two_processes_and_a_thread_keep_the_burst_window(
    redis_url: str, redis_client: redis.Redis
) -> None:
    context = multiprocessing.get_context("fork")
    workers = [
        context.Process(target=_remove_from_list, args=(redis_url, f"LIST{n}", 12, n * 100_000))
        for n in range(2)
    ]
    for worker in workers:
        worker.start()
    here = threading.Thread(target=_remove_from_list, args=(redis_url, "LIST9", 12, 900_000))
    here.start()
    here.join(60)
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    arrivals = _arrivals(redis_client)
    assert len(arrivals) == 36
    # Klaviyo's 10 calls a second (list relationships), in any second however it is placed.
    assert _most_in_any(1.0, arrivals) <= 10
    print(f"36 calls in {arrivals[-1] - arrivals[0]:.2f}s; most in any 1 s: {_most_in_any(1.0, arrivals)}")  # noqa: T201


def _pace_calls(url: str, count: int) -> None:
    pace = Pace("test", ((0.2, 3), (1.0, 8)), redis.Redis.from_url(url), margin_seconds=0.05)
    client = redis.Redis.from_url(url)
    for _ in range(count):
        with pace.gate():
            client.rpush(ARRIVALS, repr(time.time()))


@pytest.mark.slow
def test_the_steady_window_holds_across_processes(redis_url: str, redis_client: redis.Redis) -> None:
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_pace_calls, args=(redis_url, 10)) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    arrivals = _arrivals(redis_client)
    assert len(arrivals) == 20
    assert _most_in_any(0.2, arrivals) <= 3
    assert _most_in_any(1.0, arrivals) <= 8
    assert arrivals[-1] - arrivals[0] >= 2.0  # 20 calls at 8 a second (and a margin) take over 2 s


@pytest.mark.parametrize(
    ("status", "headers"),
    [
        (204, {"RateLimit-Limit": "10", "RateLimit-Remaining": "0", "RateLimit-Reset": "2"}),
        (429, {"Retry-After": "2"}),
    ],
)
def test_the_servers_rate_headers_hold_back_every_list_of_the_key(
    redis_url: str, redis_client: redis.Redis, status: int, headers: dict[str, str]
) -> None:
    answers = {1: (status, headers)}

    def answer(request: Any) -> tuple[int, dict[str, str], str]:
        index = redis_client.rpush(ARRIVALS, repr(time.time()))
        code, extra = answers.get(index, (204, {}))
        body = json.dumps({"errors": [{"id": "t", "code": "throttled", "title": "Throttled", "detail": ""}]})
        return code, extra, body if code == 429 else ""

    with responses.RequestsMock() as mock:
        mock.add_callback(responses.DELETE, MEMBERSHIP, callback=answer)
        first = KlaviyoList(KEY, "LISTA", http=Http("Klaviyo", retries=0), redis=redis_client)
        other = KlaviyoList(KEY, "LISTB", http=Http("Klaviyo", retries=0), redis=redis_client)
        first.deliver(_removals(1, 0))
        other.deliver(_removals(1, 1))
    arrivals = _arrivals(redis_client)
    assert len(arrivals) == 2
    assert arrivals[1] - arrivals[0] >= 1.9  # the other list waited for the key's window
